/* nimbus-init: a minimal init for a sandbox's main process (in the spirit of Docker's --init).
 *
 * It runs as PID 1 of the sandbox's pid namespace, where the kernel drops every signal whose
 * action is the default one (so a plain `sleep 600` as PID 1 would never see stop's SIGTERM).
 * nimbus-init instead:
 *   - forks and execs the real program (execvp: argv[0] is looked up on $PATH of the process
 *     environment; exit 127 with a message on stderr when it is not found, 126 when it cannot
 *     be executed), with the signal mask and stdio it was started with;
 *   - forwards every asynchronous signal it receives (TERM, INT, HUP, QUIT, USR1, USR2, WINCH,
 *     ALRM, CONT, ... all but SIGCHLD and the synchronous fault signals) to that child;
 *   - reaps every zombie re-parented to it;
 *   - exits with the child's status: its exit code, or, when a signal killed it, 128+signal.
 *     A PID 1 cannot kill itself with a signal, so with `--status-fd N` it first writes
 *     "signal <n>\n" to fd N (a pipe the monitor reads) so the monitor can report the signal
 *     truthfully; when not PID 1 it re-raises the signal instead.
 *
 * usage: nimbus-init [--status-fd N] -- PROGRAM [ARGS...]
 * Statically linked and bind-mounted read-only into the container (see src/runtime/spec.ts). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void
say (const char *fmt, const char *a, const char *b)
{
  char buf[4096];
  int n = snprintf (buf, sizeof buf, fmt, a, b);
  if (n > 0)
    {
      size_t len = (size_t) n < sizeof buf ? (size_t) n : sizeof buf - 1;
      ssize_t r = write (2, buf, len);
      (void) r;
    }
}

static int
synchronous (int sig)
{
  return sig == SIGFPE || sig == SIGILL || sig == SIGSEGV || sig == SIGBUS || sig == SIGABRT || sig == SIGTRAP
         || sig == SIGSYS;
}

int
main (int argc, char **argv)
{
  int status_fd = -1, i = 1;
  sigset_t all, orig;
  pid_t child;

  while (i < argc && strcmp (argv[i], "--") != 0)
    {
      if (strcmp (argv[i], "--status-fd") == 0 && i + 1 < argc)
        {
          status_fd = atoi (argv[i + 1]);
          i += 2;
        }
      else
        {
          say ("nimbus-init: unknown option %s%s\n", argv[i], "");
          return 2;
        }
    }
  if (i >= argc - 1)
    {
      say ("usage: nimbus-init [--status-fd N] -- PROGRAM [ARGS...]%s%s\n", "", "");
      return 2;
    }
  argv += i + 1;

  /* the status channel stays ours: never inherited by the program, never blocks us */
  if (status_fd >= 0)
    {
      if (fcntl (status_fd, F_SETFD, FD_CLOEXEC) < 0)
        status_fd = -1;
      else
        fcntl (status_fd, F_SETFL, fcntl (status_fd, F_GETFL) | O_NONBLOCK);
    }

  /* block what we wait for before forking, so nothing is lost in between */
  sigfillset (&all);
  for (int s = 1; s < NSIG; s++)
    if (synchronous (s))
      sigdelset (&all, s);
  sigprocmask (SIG_BLOCK, &all, &orig);

  child = fork ();
  if (child < 0)
    {
      say ("nimbus-init: fork: %s%s\n", strerror (errno), "");
      return 126;
    }
  if (child == 0)
    {
      int e;
      sigprocmask (SIG_SETMASK, &orig, NULL);
      execvp (argv[0], argv);
      e = errno;
      if (e == ENOENT && strchr (argv[0], '/') == NULL)
        say ("nimbus: \"%s\": executable file not found in $PATH%s\n", argv[0], "");
      else
        say ("nimbus: exec \"%s\": %s\n", argv[0], strerror (e));
      _exit (e == ENOENT || e == ENOTDIR || e == ELOOP || e == ENAMETOOLONG ? 127 : 126);
    }

  for (;;)
    {
      siginfo_t si;
      int sig = sigwaitinfo (&all, &si);
      if (sig < 0)
        continue; /* EINTR */
      if (sig != SIGCHLD)
        {
          kill (child, sig);
          continue;
        }
      for (;;)
        {
          int st;
          pid_t r = waitpid (-1, &st, WNOHANG);
          if (r <= 0)
            break;
          if (r != child)
            continue; /* an orphan re-parented to us: reaped */
          if (WIFEXITED (st))
            return WEXITSTATUS (st);
          if (WIFSIGNALED (st))
            {
              int s = WTERMSIG (st);
              if (status_fd >= 0)
                {
                  char line[32];
                  int n = snprintf (line, sizeof line, "signal %d\n", s);
                  ssize_t w = write (status_fd, line, (size_t) n);
                  (void) w;
                }
              if (getpid () != 1)
                {
                  /* not a namespace init: die the same way */
                  signal (s, SIG_DFL);
                  sigprocmask (SIG_SETMASK, &orig, NULL);
                  sigset_t one;
                  sigemptyset (&one);
                  sigaddset (&one, s);
                  sigprocmask (SIG_UNBLOCK, &one, NULL);
                  raise (s);
                }
              return 128 + s;
            }
        }
    }
}
