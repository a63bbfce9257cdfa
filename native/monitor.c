/* nimbus-monitor run: one process per sandbox, in its own session, so the sandbox outlives a
 * server restart. It runs the container through libcrun (detached mode, with this process as
 * child subreaper so the container becomes our child and we can wait for it), keeps the
 * container's stdout/stderr in append-only log files, keeps its stdin pipe open, serves a unix
 * control socket (see nimbus.h), and on exit records the status atomically in exit.json after
 * libcrun has removed the container's state dir and cgroups.
 *
 * With --init the container's process is nimbus-init (native/init.c) started with `--status-fd 3`:
 * the monitor passes it the write end of a pipe as fd 3 and, when init exits with 128+n after
 * writing "signal n", records that its program was killed by signal n (a namespace's PID 1
 * cannot die by a signal it sends itself, so the exit status alone would say code 128+n).
 *
 * usage: nimbus-monitor run --id ID --bundle DIR --state-root DIR [--init]
 * fd 1 on entry is the report channel: one JSON line {"pid":..,"startedAt":..} or {"error":..}. */
#include "nimbus.h"

#include <libcrun/container.h>
#include <libcrun/error.h>
#include <libcrun/status.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CLIENTS 128

struct client
{
  int fd;
  char mode; /* 0 until the command byte arrived */
};

static struct client clients[MAX_CLIENTS];
static int stdin_w = -1;

static void
crun_output (int errno_, const char *msg, bool warning, void *arg)
{
  if (errno_)
    nimbus_log ("libcrun %s: %s: %s", warning ? "warning" : "error", msg, strerror (errno_));
  else
    nimbus_log ("libcrun %s: %s", warning ? "warning" : "error", msg);
}

static void
report (int fd, const char *line)
{
  if (fd >= 0)
    nimbus_write_all (fd, line, strlen (line));
}

static long
read_counter (const char *path, const char *key)
{
  size_t len;
  char *buf = nimbus_read_file (path, &len), *p;
  long v = -1;
  if (buf == NULL)
    return -1;
  for (p = buf; p && *p;)
    {
      size_t kl = strlen (key);
      if (strncmp (p, key, kl) == 0 && p[kl] == ' ')
        {
          v = strtol (p + kl + 1, NULL, 10);
          break;
        }
      p = strchr (p, '\n');
      if (p)
        p++;
    }
  free (buf);
  return v;
}

/* OOM kills recorded by the memory cgroup (v1: memory.oom_control, v2: memory.events). */
static long
oom_kills (const char *cgroups_path)
{
  char path[4096];
  long v;
  if (cgroups_path == NULL)
    return 0;
  snprintf (path, sizeof path, "/sys/fs/cgroup/memory%s/memory.oom_control", cgroups_path);
  v = read_counter (path, "oom_kill");
  if (v >= 0)
    return v;
  snprintf (path, sizeof path, "/sys/fs/cgroup%s/memory.events", cgroups_path);
  v = read_counter (path, "oom_kill");
  return v > 0 ? v : 0;
}

static void
drop_client (int epfd, int i)
{
  epoll_ctl (epfd, EPOLL_CTL_DEL, clients[i].fd, NULL);
  close (clients[i].fd);
  clients[i].fd = -1;
  clients[i].mode = 0;
}

static void
close_stdin (void)
{
  if (stdin_w >= 0)
    {
      close (stdin_w);
      stdin_w = -1;
    }
}

int
nimbus_monitor_main (int argc, char **argv)
{
  const char *id = nimbus_arg (argc, argv, "--id");
  const char *bundle = nimbus_arg (argc, argv, "--bundle");
  const char *state_root = nimbus_arg (argc, argv, "--state-root");
  char path[4096], line[8192], esc[4096], started[64];
  int report_fd, mlog, outfd, errfd, lfd, sfd, epfd, pipefd[2], ret;
  libcrun_error_t err = NULL;
  libcrun_container_t *container;
  const char *cgroups_path = NULL;
  pid_t cpid = -1;
  sigset_t mask;
  bool use_init = nimbus_flag (argc, argv, "--init");
  int status_r = -1;

  if (id == NULL || bundle == NULL || state_root == NULL)
    {
      fprintf (stderr, "usage: nimbus-monitor run --id ID --bundle DIR --state-root DIR\n");
      return 2;
    }
  setsid ();
  if (use_init)
    {
      /* fd 3 (inherited by the container: ctx.preserve_fds = 1) is init's status channel;
       * set up first so nothing else takes fd 3 */
      int p[2];
      if (pipe2 (p, O_CLOEXEC) < 0)
        {
          fprintf (stdout, "{\"error\":\"pipe: %s\"}\n", strerror (errno));
          return 1;
        }
      status_r = fcntl (p[0], F_DUPFD_CLOEXEC, 10);
      close (p[0]);
      if (p[1] != 3)
        {
          dup2 (p[1], 3); /* dup2 clears FD_CLOEXEC */
          close (p[1]);
        }
      else
        fcntl (3, F_SETFD, 0);
      fcntl (status_r, F_SETFL, O_NONBLOCK);
    }
  report_fd = fcntl (1, F_DUPFD_CLOEXEC, 3);

  snprintf (path, sizeof path, "%s/%s", bundle, NIMBUS_MONITOR_LOG);
  mlog = open (path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (mlog < 0)
    {
      snprintf (line, sizeof line, "{\"error\":\"open %s: %s\"}\n", NIMBUS_MONITOR_LOG, strerror (errno));
      report (report_fd, line);
      return 1;
    }
  nimbus_log_fd = mlog;
  crun_set_output_handler (crun_output, NULL, false);

  /* the container's stdio: a stdin pipe we keep open, append-only log files */
  if (pipe2 (pipefd, O_CLOEXEC) < 0)
    nimbus_die ("pipe: %s", strerror (errno));
  stdin_w = pipefd[1];
  snprintf (path, sizeof path, "%s/%s", bundle, NIMBUS_STDOUT_LOG);
  outfd = open (path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  snprintf (path, sizeof path, "%s/%s", bundle, NIMBUS_STDERR_LOG);
  errfd = open (path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (outfd < 0 || errfd < 0)
    {
      snprintf (line, sizeof line, "{\"error\":\"open logs: %s\"}\n", strerror (errno));
      report (report_fd, line);
      return 1;
    }
  dup2 (pipefd[0], 0);
  dup2 (outfd, 1);
  dup2 (errfd, 2);
  close (pipefd[0]);
  close (outfd);
  close (errfd);

  snprintf (path, sizeof path, "%s/%s", bundle, NIMBUS_SOCKET);
  lfd = nimbus_unix_listen (path);
  if (lfd < 0)
    {
      snprintf (line, sizeof line, "{\"error\":\"listen on %s: %s\"}\n", nimbus_json_escape (path, esc, sizeof esc),
                strerror (errno));
      report (report_fd, line);
      return 1;
    }

  /* the container is re-parented to us once libcrun's detached launcher exits */
  if (prctl (PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
    nimbus_die ("prctl(PR_SET_CHILD_SUBREAPER): %s", strerror (errno));

  snprintf (path, sizeof path, "%s/%s", bundle, NIMBUS_CONFIG);
  container = libcrun_container_load_from_file (path, &err);
  if (container == NULL)
    goto crun_failed;
  if (container->container_def->linux)
    cgroups_path = container->container_def->linux->cgroups_path;

  char pid_file[4096];
  snprintf (pid_file, sizeof pid_file, "%s/%s", bundle, NIMBUS_PID_FILE);
  struct libcrun_context_s ctx;
  memset (&ctx, 0, sizeof ctx);
  ctx.state_root = state_root;
  ctx.id = id;
  ctx.bundle = bundle;
  ctx.pid_file = pid_file;
  ctx.fifo_exec_wait_fd = -1;
  ctx.detach = true;
  ctx.output_handler = crun_output;
  ctx.preserve_fds = use_init ? 1 : 0;

  ret = libcrun_container_run (&ctx, container, 0, &err);
  if (use_init)
    close (3); /* only init holds the write end now: EOF once it is gone */
  if (ret < 0)
    goto crun_failed;

  {
    char *pidtxt = nimbus_read_file (pid_file, NULL);
    cpid = pidtxt ? (pid_t) strtol (pidtxt, NULL, 10) : -1;
    free (pidtxt);
    if (cpid <= 0)
      nimbus_die ("container started but %s has no pid", pid_file);
  }
  nimbus_iso_now (started, sizeof started);

  /* from here on fds 0-2 are the monitor's own, not the container's */
  {
    int nul = open ("/dev/null", O_RDWR);
    dup2 (nul, 0);
    dup2 (nul, 1);
    dup2 (mlog, 2);
    if (nul > 2)
      close (nul);
  }
  signal (SIGPIPE, SIG_IGN);
  sigemptyset (&mask);
  sigaddset (&mask, SIGCHLD);
  sigaddset (&mask, SIGTERM);
  sigaddset (&mask, SIGINT);
  sigaddset (&mask, SIGHUP);
  sigaddset (&mask, SIGQUIT);
  sigprocmask (SIG_BLOCK, &mask, NULL);
  sfd = signalfd (-1, &mask, SFD_CLOEXEC);

  snprintf (line, sizeof line, "{\"id\":\"%s\",\"monitorPid\":%d,\"containerPid\":%d,\"startedAt\":\"%s\"}\n",
            nimbus_json_escape (id, esc, sizeof esc), (int) getpid (), (int) cpid, started);
  if (nimbus_write_file_atomic (bundle, NIMBUS_MONITOR_JSON, line) < 0)
    nimbus_log ("write %s: %s", NIMBUS_MONITOR_JSON, strerror (errno));
  report (report_fd, line);
  close (report_fd);
  report_fd = -1;

  epfd = epoll_create1 (EPOLL_CLOEXEC);
  {
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = sfd };
    epoll_ctl (epfd, EPOLL_CTL_ADD, sfd, &ev);
    ev.data.fd = lfd;
    epoll_ctl (epfd, EPOLL_CTL_ADD, lfd, &ev);
  }
  for (int i = 0; i < MAX_CLIENTS; i++)
    clients[i].fd = -1;

  int status = 0;
  bool exited = false;
  /* the container may already be gone before the signalfd existed */
  for (;;)
    {
      pid_t r = waitpid (-1, &status, WNOHANG);
      if (r <= 0)
        break;
      if (r == cpid)
        {
          exited = true;
          break;
        }
    }

  while (! exited)
    {
      struct epoll_event evs[16];
      int n = epoll_wait (epfd, evs, 16, -1);
      if (n < 0 && errno == EINTR)
        continue;
      for (int e = 0; e < n && ! exited; e++)
        {
          int fd = evs[e].data.fd;
          if (fd == sfd)
            {
              struct signalfd_siginfo si;
              if (read (sfd, &si, sizeof si) != sizeof si)
                continue;
              if (si.ssi_signo == SIGCHLD)
                {
                  int st;
                  pid_t r;
                  while ((r = waitpid (-1, &st, WNOHANG)) > 0)
                    if (r == cpid)
                      {
                        status = st;
                        exited = true;
                      }
                }
              else
                kill (cpid, (int) si.ssi_signo); /* forward termination signals */
            }
          else if (fd == lfd)
            {
              int c;
              while ((c = accept4 (lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
                {
                  int slot = -1;
                  for (int i = 0; i < MAX_CLIENTS; i++)
                    if (clients[i].fd < 0)
                      {
                        slot = i;
                        break;
                      }
                  if (slot < 0)
                    {
                      close (c);
                      continue;
                    }
                  clients[slot].fd = c;
                  clients[slot].mode = 0;
                  struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = c };
                  epoll_ctl (epfd, EPOLL_CTL_ADD, c, &ev);
                }
            }
          else
            {
              int i;
              char buf[65536];
              ssize_t r;
              for (i = 0; i < MAX_CLIENTS && clients[i].fd != fd; i++)
                ;
              if (i == MAX_CLIENTS)
                continue;
              r = read (fd, buf, sizeof buf);
              if (r <= 0)
                {
                  drop_client (epfd, i);
                  continue;
                }
              size_t off = 0;
              if (clients[i].mode == 0)
                {
                  clients[i].mode = buf[0];
                  off = 1;
                  if (clients[i].mode == NIMBUS_CMD_PING)
                    {
                      nimbus_write_all (fd, line, strlen (line));
                      drop_client (epfd, i);
                      continue;
                    }
                  if (clients[i].mode == NIMBUS_CMD_CLOSE_STDIN)
                    {
                      close_stdin ();
                      drop_client (epfd, i);
                      continue;
                    }
                }
              if (clients[i].mode == NIMBUS_CMD_STDIN && (size_t) r > off && stdin_w >= 0)
                {
                  if (nimbus_write_all (stdin_w, buf + off, (size_t) r - off) < 0)
                    {
                      nimbus_log ("write to container stdin: %s", strerror (errno));
                      close_stdin ();
                    }
                }
              else if (clients[i].mode != NIMBUS_CMD_STDIN && clients[i].mode != NIMBUS_CMD_WATCH)
                drop_client (epfd, i);
            }
        }
    }

  /* the container's init is gone (and with it its pid namespace): record, clean, report */
  {
    char finished[64], exitjson[1024];
    long ooms = oom_kills (cgroups_path);
    int code = -1, sig = 0;
    if (WIFEXITED (status))
      code = WEXITSTATUS (status);
    else if (WIFSIGNALED (status))
      sig = WTERMSIG (status);
    if (status_r >= 0 && code > 128)
      {
        /* init's "signal n" line: its program died of signal n (init itself exited 128+n) */
        char sbuf[64];
        ssize_t n = read (status_r, sbuf, sizeof sbuf - 1);
        if (n > 0)
          {
            int s = 0;
            sbuf[n] = 0;
            if (sscanf (sbuf, "signal %d", &s) == 1 && s > 0 && s < 65 && code == 128 + s)
              {
                sig = s;
                code = -1;
              }
          }
      }
    nimbus_iso_now (finished, sizeof finished);
    close_stdin ();

    libcrun_error_t derr = NULL;
    if (libcrun_container_delete (&ctx, NULL, id, true, &derr) < 0)
      {
        nimbus_log ("delete container state: %s", derr ? derr->msg : "?");
        libcrun_error_release (&derr);
      }

    if (sig)
      snprintf (exitjson, sizeof exitjson,
                "{\"code\":null,\"signal\":\"%s\",\"oomKilled\":%s,\"finishedAt\":\"%s\"}\n", nimbus_signame (sig),
                ooms > 0 ? "true" : "false", finished);
    else
      snprintf (exitjson, sizeof exitjson, "{\"code\":%d,\"signal\":null,\"oomKilled\":%s,\"finishedAt\":\"%s\"}\n",
                code, ooms > 0 ? "true" : "false", finished);
    if (nimbus_write_file_atomic (bundle, NIMBUS_EXIT_JSON, exitjson) < 0)
      nimbus_log ("write %s: %s", NIMBUS_EXIT_JSON, strerror (errno));
    snprintf (path, sizeof path, "%s/%s", bundle, NIMBUS_SOCKET);
    unlink (path);
    for (int i = 0; i < MAX_CLIENTS; i++)
      if (clients[i].fd >= 0)
        {
          if (clients[i].mode == NIMBUS_CMD_WATCH)
            nimbus_write_all (clients[i].fd, exitjson, strlen (exitjson));
          close (clients[i].fd);
        }
    snprintf (path, sizeof path, "%s/%s", bundle, NIMBUS_MONITOR_JSON);
    unlink (path);
  }
  return 0;

crun_failed:
  {
    const char *msg = err && err->msg ? err->msg : "unknown libcrun error";
    nimbus_log ("run failed: %s", msg);
    snprintf (line, sizeof line, "{\"error\":\"%s\",\"errno\":%d}\n", nimbus_json_escape (msg, esc, sizeof esc),
              err ? err->status : 0);
    report (report_fd, line);
    libcrun_error_release (&err);
    snprintf (path, sizeof path, "%s/%s", bundle, NIMBUS_SOCKET);
    unlink (path);
    return 1;
  }
}
