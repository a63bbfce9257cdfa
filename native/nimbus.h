/* Shared declarations of Nimbus' native helpers (monitor, exec helper, port relay, ffi lib). */
#ifndef NIMBUS_H
#define NIMBUS_H

#include <stddef.h>
#include <stdbool.h>
#include <sys/types.h>

/* The monitor's control socket protocol: a client sends one command byte first.
 *   'i'  every following byte is written to the container's stdin
 *   'c'  close the container's stdin (EOF), then the connection is closed
 *   'w'  watch: the monitor answers with the exit.json text once the container exits
 *   'p'  ping: the monitor answers with the monitor.json text and closes */
#define NIMBUS_CMD_STDIN 'i'
#define NIMBUS_CMD_CLOSE_STDIN 'c'
#define NIMBUS_CMD_WATCH 'w'
#define NIMBUS_CMD_PING 'p'

/* file names inside a sandbox dir */
#define NIMBUS_CONFIG "config.json"
#define NIMBUS_STDOUT_LOG "stdout.log"
#define NIMBUS_STDERR_LOG "stderr.log"
#define NIMBUS_MONITOR_LOG "monitor.log"
#define NIMBUS_MONITOR_JSON "monitor.json"
#define NIMBUS_EXIT_JSON "exit.json"
#define NIMBUS_PID_FILE "container.pid"
#define NIMBUS_SOCKET "monitor.sock"

/* common.c */
extern int nimbus_log_fd;
void nimbus_die (const char *fmt, ...) __attribute__ ((noreturn, format (printf, 1, 2)));
void nimbus_log (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
int nimbus_write_all (int fd, const void *buf, size_t len);
/* write `content` to dir/name atomically (temp file + fsync + rename) */
int nimbus_write_file_atomic (const char *dir, const char *name, const char *content);
char *nimbus_read_file (const char *path, size_t *len_out);
void nimbus_iso_now (char *buf, size_t len);
const char *nimbus_arg (int argc, char **argv, const char *name);
bool nimbus_flag (int argc, char **argv, const char *name);
int nimbus_unix_listen (const char *path);
/* JSON string escaping into a caller buffer; returns buf */
char *nimbus_json_escape (const char *in, char *buf, size_t len);
const char *nimbus_signame (int sig);

int nimbus_monitor_main (int argc, char **argv);
int nimbus_exec_main (int argc, char **argv);
int nimbus_relay_main (int argc, char **argv);

#endif
