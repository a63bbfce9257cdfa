/* Small utilities shared by the monitor's modes. Every error carries its context. */
#include "nimbus.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int nimbus_log_fd = 2;

void
nimbus_log (const char *fmt, ...)
{
  char ts[64], msg[2048];
  va_list ap;
  nimbus_iso_now (ts, sizeof ts);
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  dprintf (nimbus_log_fd, "%s nimbus-monitor[%d]: %s\n", ts, (int) getpid (), msg);
}

void
nimbus_die (const char *fmt, ...)
{
  char msg[2048];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  dprintf (nimbus_log_fd, "nimbus-monitor[%d]: fatal: %s\n", (int) getpid (), msg);
  _exit (125);
}

int
nimbus_write_all (int fd, const void *buf, size_t len)
{
  const char *p = buf;
  while (len > 0)
    {
      ssize_t n = write (fd, p, len);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return -1;
        }
      p += n;
      len -= (size_t) n;
    }
  return 0;
}

int
nimbus_write_file_atomic (const char *dir, const char *name, const char *content)
{
  char tmp[4096], dst[4096];
  int fd;
  snprintf (tmp, sizeof tmp, "%s/.%s.tmp.%d", dir, name, (int) getpid ());
  snprintf (dst, sizeof dst, "%s/%s", dir, name);
  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return -1;
  if (nimbus_write_all (fd, content, strlen (content)) < 0 || fsync (fd) < 0)
    {
      int e = errno;
      close (fd);
      unlink (tmp);
      errno = e;
      return -1;
    }
  close (fd);
  if (rename (tmp, dst) < 0)
    {
      int e = errno;
      unlink (tmp);
      errno = e;
      return -1;
    }
  return 0;
}

char *
nimbus_read_file (const char *path, size_t *len_out)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  size_t cap = 4096, len = 0;
  char *buf;
  if (fd < 0)
    return NULL;
  buf = malloc (cap + 1);
  for (;;)
    {
      ssize_t n;
      if (len == cap)
        {
          cap *= 2;
          buf = realloc (buf, cap + 1);
        }
      n = read (fd, buf + len, cap - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      len += (size_t) n;
    }
  close (fd);
  buf[len] = '\0';
  if (len_out)
    *len_out = len;
  return buf;
}

void
nimbus_iso_now (char *buf, size_t len)
{
  struct timespec ts;
  struct tm tm;
  char base[32];
  clock_gettime (CLOCK_REALTIME, &ts);
  gmtime_r (&ts.tv_sec, &tm);
  strftime (base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf (buf, len, "%s.%03ldZ", base, ts.tv_nsec / 1000000);
}

const char *
nimbus_arg (int argc, char **argv, const char *name)
{
  for (int i = 0; i < argc - 1; i++)
    if (strcmp (argv[i], name) == 0)
      return argv[i + 1];
  return NULL;
}

bool
nimbus_flag (int argc, char **argv, const char *name)
{
  for (int i = 0; i < argc; i++)
    if (strcmp (argv[i], name) == 0)
      return true;
  return false;
}

int
nimbus_unix_listen (const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd;
  if (strlen (path) >= sizeof addr.sun_path)
    {
      errno = ENAMETOOLONG;
      return -1;
    }
  strcpy (addr.sun_path, path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -1;
  unlink (path);
  if (bind (fd, (struct sockaddr *) &addr, sizeof addr) < 0 || chmod (path, 0600) < 0 || listen (fd, 64) < 0)
    {
      int e = errno;
      close (fd);
      errno = e;
      return -1;
    }
  return fd;
}

char *
nimbus_json_escape (const char *in, char *buf, size_t len)
{
  size_t o = 0;
  for (; in && *in && o + 7 < len; in++)
    {
      unsigned char c = (unsigned char) *in;
      if (c == '"' || c == '\\')
        {
          buf[o++] = '\\';
          buf[o++] = (char) c;
        }
      else if (c < 0x20)
        o += (size_t) snprintf (buf + o, len - o, "\\u%04x", c);
      else
        buf[o++] = (char) c;
    }
  buf[o] = '\0';
  return buf;
}

const char *
nimbus_signame (int sig)
{
  static const struct { int n; const char *s; } names[] = {
    { SIGHUP, "SIGHUP" }, { SIGINT, "SIGINT" }, { SIGQUIT, "SIGQUIT" }, { SIGILL, "SIGILL" },
    { SIGTRAP, "SIGTRAP" }, { SIGABRT, "SIGABRT" }, { SIGBUS, "SIGBUS" }, { SIGFPE, "SIGFPE" },
    { SIGKILL, "SIGKILL" }, { SIGUSR1, "SIGUSR1" }, { SIGSEGV, "SIGSEGV" }, { SIGUSR2, "SIGUSR2" },
    { SIGPIPE, "SIGPIPE" }, { SIGALRM, "SIGALRM" }, { SIGTERM, "SIGTERM" }, { SIGCHLD, "SIGCHLD" },
    { SIGCONT, "SIGCONT" }, { SIGSTOP, "SIGSTOP" }, { SIGTSTP, "SIGTSTP" }, { SIGTTIN, "SIGTTIN" },
    { SIGTTOU, "SIGTTOU" }, { SIGURG, "SIGURG" }, { SIGXCPU, "SIGXCPU" }, { SIGXFSZ, "SIGXFSZ" },
    { SIGVTALRM, "SIGVTALRM" }, { SIGPROF, "SIGPROF" }, { SIGWINCH, "SIGWINCH" }, { SIGIO, "SIGIO" },
    { SIGPWR, "SIGPWR" }, { SIGSYS, "SIGSYS" },
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (names[i].n == sig)
      return names[i].s;
  return "SIGUNKNOWN";
}

int
main (int argc, char **argv)
{
  if (argc >= 2 && strcmp (argv[1], "run") == 0)
    return nimbus_monitor_main (argc - 1, argv + 1);
  if (argc >= 2 && strcmp (argv[1], "exec") == 0)
    return nimbus_exec_main (argc - 1, argv + 1);
  if (argc >= 2 && strcmp (argv[1], "relay") == 0)
    return nimbus_relay_main (argc - 1, argv + 1);
  if (argc >= 2 && strcmp (argv[1], "version") == 0)
    {
      puts ("nimbus-monitor 1 (libcrun " "1.8.1" ")");
      return 0;
    }
  fprintf (stderr, "usage: nimbus-monitor run|exec|relay|version ...\n");
  return 2;
}
