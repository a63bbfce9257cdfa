/* nimbus-monitor exec: run a process inside a running container (libcrun exec: joins its
 * namespaces, cgroup, user, capabilities and seccomp profile) and exit with its exit code.
 *
 * usage: nimbus-monitor exec --state-root DIR --id ID --process FILE [--tty] [--resize-fd N]
 *   FILE is an OCI "process" object (JSON).
 *   without --tty the process inherits our stdin/stdout/stderr.
 *   with --tty libcrun hands the pty master to us over a console socket; a relay thread copies
 *   stdin -> pty and pty -> stdout, and reads "COLS ROWS\n" lines from the resize fd. */
#include "nimbus.h"

#include <libcrun/container.h>
#include <libcrun/error.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

struct tty_relay
{
  int listen_fd;
  int resize_fd;
  volatile int done;
};

static int
recv_fd (int sock)
{
  char data[16];
  char cbuf[CMSG_SPACE (sizeof (int))];
  struct iovec iov = { .iov_base = data, .iov_len = sizeof data };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
  struct cmsghdr *c;
  if (recvmsg (sock, &msg, MSG_CMSG_CLOEXEC) < 0)
    return -1;
  for (c = CMSG_FIRSTHDR (&msg); c; c = CMSG_NXTHDR (&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      {
        int fd;
        memcpy (&fd, CMSG_DATA (c), sizeof fd);
        return fd;
      }
  errno = EBADMSG;
  return -1;
}

static void
apply_resize (int master, char *buf, size_t *len)
{
  char *nl;
  while ((nl = memchr (buf, '\n', *len)) != NULL)
    {
      unsigned cols = 0, rows = 0;
      *nl = '\0';
      if (sscanf (buf, "%u %u", &cols, &rows) == 2 && cols > 0 && rows > 0)
        {
          struct winsize ws = { .ws_row = (unsigned short) rows, .ws_col = (unsigned short) cols };
          ioctl (master, TIOCSWINSZ, &ws);
        }
      size_t consumed = (size_t) (nl - buf) + 1;
      memmove (buf, nl + 1, *len - consumed);
      *len -= consumed;
    }
  if (*len >= 64)
    *len = 0;
}

/* No allocation in here: libcrun forks/clones in the other thread. */
static void *
tty_relay_thread (void *arg)
{
  struct tty_relay *r = arg;
  char buf[16384], rbuf[128];
  size_t rlen = 0;
  int conn, master;
  bool stdin_open = true;

  conn = accept4 (r->listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (conn < 0)
    return NULL;
  /* accepted socket may inherit O_NONBLOCK on some kernels: make it blocking */
  fcntl (conn, F_SETFL, fcntl (conn, F_GETFL) & ~O_NONBLOCK);
  master = recv_fd (conn);
  close (conn);
  if (master < 0)
    return NULL;

  for (;;)
    {
      struct pollfd p[3] = {
        { .fd = master, .events = POLLIN },
        { .fd = stdin_open ? 0 : -1, .events = POLLIN },
        { .fd = r->resize_fd, .events = POLLIN },
      };
      if (poll (p, 3, r->done ? 50 : 500) < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
        {
          ssize_t n = read (master, buf, sizeof buf);
          if (n <= 0)
            break; /* EIO: no process holds the terminal any more */
          if (nimbus_write_all (1, buf, (size_t) n) < 0)
            break;
          continue;
        }
      if (p[1].revents & (POLLIN | POLLHUP | POLLERR))
        {
          ssize_t n = read (0, buf, sizeof buf);
          if (n <= 0)
            {
              /* EOF on our stdin: send the terminal's EOF character */
              stdin_open = false;
              nimbus_write_all (master, "\004", 1);
            }
          else
            nimbus_write_all (master, buf, (size_t) n);
        }
      if (r->resize_fd >= 0 && (p[2].revents & (POLLIN | POLLHUP | POLLERR)))
        {
          ssize_t n = read (r->resize_fd, rbuf + rlen, sizeof rbuf - 1 - rlen);
          if (n <= 0)
            r->resize_fd = -1;
          else
            {
              rlen += (size_t) n;
              apply_resize (master, rbuf, &rlen);
            }
        }
      if (r->done && ! (p[0].revents & POLLIN))
        break;
    }
  close (master);
  return NULL;
}

int
nimbus_exec_main (int argc, char **argv)
{
  const char *state_root = nimbus_arg (argc, argv, "--state-root");
  const char *id = nimbus_arg (argc, argv, "--id");
  const char *process = nimbus_arg (argc, argv, "--process");
  const char *resize = nimbus_arg (argc, argv, "--resize-fd");
  bool tty = nimbus_flag (argc, argv, "--tty");
  libcrun_error_t err = NULL;
  struct libcrun_context_s ctx;
  struct libcrun_container_exec_options_s opts;
  char sockdir[] = "/tmp/nimbus-exec-XXXXXX", sockpath[256];
  struct tty_relay relay = { .listen_fd = -1, .resize_fd = resize ? atoi (resize) : -1, .done = 0 };
  pthread_t thread;
  int ret;

  if (state_root == NULL || id == NULL || process == NULL)
    {
      fprintf (stderr, "usage: nimbus-monitor exec --state-root DIR --id ID --process FILE [--tty] [--resize-fd N]\n");
      return 125;
    }
  memset (&ctx, 0, sizeof ctx);
  ctx.state_root = state_root;
  ctx.id = id;
  ctx.fifo_exec_wait_fd = -1;
  ctx.detach = false;

  if (tty)
    {
      if (mkdtemp (sockdir) == NULL)
        nimbus_die ("mkdtemp: %s", strerror (errno));
      snprintf (sockpath, sizeof sockpath, "%s/console.sock", sockdir);
      relay.listen_fd = nimbus_unix_listen (sockpath);
      if (relay.listen_fd < 0)
        nimbus_die ("listen on %s: %s", sockpath, strerror (errno));
      fcntl (relay.listen_fd, F_SETFL, fcntl (relay.listen_fd, F_GETFL) & ~O_NONBLOCK);
      ctx.console_socket = sockpath;
      /* libcrun forwards signals through a signalfd in this thread: the relay must not take them */
      sigset_t all, old;
      sigfillset (&all);
      pthread_sigmask (SIG_BLOCK, &all, &old);
      if (pthread_create (&thread, NULL, tty_relay_thread, &relay) != 0)
        nimbus_die ("pthread_create failed");
      pthread_sigmask (SIG_SETMASK, &old, NULL);
    }

  memset (&opts, 0, sizeof opts);
  opts.struct_size = sizeof opts;
  opts.path = process;
  ret = libcrun_container_exec_with_options (&ctx, id, &opts, &err);
  if (ret < 0)
    {
      fprintf (stderr, "nimbus exec: %s\n", err && err->msg ? err->msg : "unknown libcrun error");
      libcrun_error_release (&err);
      ret = 126;
    }

  if (tty)
    {
      /* let the relay drain what the process wrote before it exited */
      struct timespec deadline;
      relay.done = 1;
      clock_gettime (CLOCK_REALTIME, &deadline);
      deadline.tv_sec += 1;
      if (pthread_timedjoin_np (thread, NULL, &deadline) != 0)
        pthread_cancel (thread);
      unlink (sockpath);
      rmdir (sockdir);
    }
  return ret;
}
