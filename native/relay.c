/* nimbus-monitor relay: ingress to a sandbox port without giving the sandbox any route out.
 *
 * The sandbox's network namespace has only `lo`, so nothing inside can reach the host or the
 * world. To expose a declared port, this relay binds a unix socket in the HOST filesystem
 * first, then joins only the container's network namespace (setns CLONE_NEWNET; mount
 * namespace and filesystem stay the host's). Each accepted connection is connected to
 * 127.0.0.1:PORT inside the sandbox and bytes are spliced both ways. The server listens on a
 * host TCP port (127.0.0.1:<hostPort>) and pipes every accepted TCP connection into this unix
 * socket, so traffic can only ever be initiated from the host side, never from the sandbox.
 * The relay exits when the container's init exits (pidfd), removing its socket.
 *
 * usage: nimbus-monitor relay --pid CONTAINER_PID --port PORT --socket PATH */
#include "nimbus.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void
splice_both (int a, int b)
{
  char buf[65536];
  bool a_open = true, b_open = true;
  while (a_open || b_open)
    {
      struct pollfd p[2] = { { .fd = a_open ? a : -1, .events = POLLIN }, { .fd = b_open ? b : -1, .events = POLLIN } };
      if (poll (p, 2, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          return;
        }
      for (int i = 0; i < 2; i++)
        {
          int from = i == 0 ? a : b, to = i == 0 ? b : a;
          if (! (p[i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
          ssize_t n = read (from, buf, sizeof buf);
          if (n <= 0 || nimbus_write_all (to, buf, (size_t) n) < 0)
            {
              if (i == 0)
                a_open = false;
              else
                b_open = false;
              shutdown (to, SHUT_WR);
              if (n < 0)
                return;
            }
        }
    }
}

int
nimbus_relay_main (int argc, char **argv)
{
  const char *pid_s = nimbus_arg (argc, argv, "--pid");
  const char *port_s = nimbus_arg (argc, argv, "--port");
  const char *sock = nimbus_arg (argc, argv, "--socket");
  char nspath[64];
  int nsfd, lfd, pidfd;
  pid_t pid;
  int port;

  if (pid_s == NULL || port_s == NULL || sock == NULL)
    {
      fprintf (stderr, "usage: nimbus-monitor relay --pid PID --port PORT --socket PATH\n");
      return 2;
    }
  pid = (pid_t) atoi (pid_s);
  port = atoi (port_s);
  if (pid <= 0 || port <= 0 || port > 65535)
    nimbus_die ("invalid --pid or --port");
  setsid ();
  pidfd = (int) syscall (SYS_pidfd_open, pid, 0);
  if (pidfd < 0)
    nimbus_die ("pidfd_open(%d): %s", (int) pid, strerror (errno));
  snprintf (nspath, sizeof nspath, "/proc/%d/ns/net", (int) pid);
  nsfd = open (nspath, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0)
    nimbus_die ("open %s: %s", nspath, strerror (errno));
  lfd = nimbus_unix_listen (sock);
  if (lfd < 0)
    nimbus_die ("listen on %s: %s", sock, strerror (errno));
  if (setns (nsfd, CLONE_NEWNET) < 0)
    {
      unlink (sock);
      nimbus_die ("setns(%s): %s", nspath, strerror (errno));
    }
  close (nsfd);
  signal (SIGCHLD, SIG_IGN); /* connection workers are reaped by the kernel */
  signal (SIGPIPE, SIG_IGN);
  /* ready: tell the spawner (stdout), then serve */
  printf ("ready\n");
  fflush (stdout);
  {
    int nul = open ("/dev/null", O_RDWR);
    dup2 (nul, 1);
    if (nul > 2)
      close (nul);
  }

  for (;;)
    {
      struct pollfd p[2] = { { .fd = lfd, .events = POLLIN }, { .fd = pidfd, .events = POLLIN } };
      if (poll (p, 2, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      if (p[1].revents)
        break; /* the sandbox is gone */
      if (! (p[0].revents & POLLIN))
        continue;
      int c = accept4 (lfd, NULL, NULL, SOCK_CLOEXEC);
      if (c < 0)
        continue;
      pid_t w = fork ();
      if (w == 0)
        {
          struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
          int t;
          close (lfd);
          fcntl (c, F_SETFL, fcntl (c, F_GETFL) & ~O_NONBLOCK);
          addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
          t = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
          if (t < 0 || connect (t, (struct sockaddr *) &addr, sizeof addr) < 0)
            _exit (1);
          splice_both (c, t);
          _exit (0);
        }
      close (c);
    }
  unlink (sock);
  return 0;
}
