/* libnimbus.so: the cheap libcrun calls the server makes in-process through bun:ffi (state,
 * kill, delete, pause, resume, update). Launch never happens here: libcrun's run/create mutate
 * the calling process (subreaper, signal masks, keyring) and fork, so they live in the monitor.
 *
 * Every function takes the crun state root and container id and returns 0 (or a length) on
 * success, or a negative errno-like value with the libcrun message copied into errbuf. */
#include "nimbus.h"

#include <libcrun/container.h>
#include <libcrun/error.h>
#include <libcrun/status.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libcrun's linux.c carries a constructor that re-executes the host process from a sealed
 * memfd (CVE-2019-5736 protection for the crun CLI). Inside the server that would re-run Bun:
 * this library is linked without cloned_binary.o and this no-op takes its place. */
int ensure_cloned_binary (void);
int
ensure_cloned_binary (void)
{
  return 0;
}

static void
init_ctx (struct libcrun_context_s *ctx, const char *state_root, const char *id)
{
  memset (ctx, 0, sizeof *ctx);
  ctx->state_root = state_root;
  ctx->id = id;
  ctx->fifo_exec_wait_fd = -1;
  ctx->detach = true;
  ctx->no_new_keyring = true;
}

static int
fail (libcrun_error_t *err, char *errbuf, size_t errlen)
{
  int status = *err ? (*err)->status : 0;
  if (errbuf && errlen)
    snprintf (errbuf, errlen, "%s", *err && (*err)->msg ? (*err)->msg : "unknown libcrun error");
  libcrun_error_release (err);
  return status > 0 ? -status : -1;
}

/* writes the OCI state JSON of the container into out; returns its length */
int
nimbus_state (const char *state_root, const char *id, char *out, size_t outlen)
{
  struct libcrun_context_s ctx;
  libcrun_error_t err = NULL;
  char *buf = NULL;
  size_t len = 0;
  FILE *f;
  int ret;
  init_ctx (&ctx, state_root, id);
  f = open_memstream (&buf, &len);
  if (f == NULL)
    return -ENOMEM;
  ret = libcrun_container_state (&ctx, id, f, &err);
  fclose (f);
  if (ret < 0)
    {
      free (buf);
      return fail (&err, out, outlen);
    }
  if (len + 1 > outlen)
    {
      free (buf);
      snprintf (out, outlen, "state larger than buffer");
      return -ENOSPC;
    }
  memcpy (out, buf, len);
  out[len] = '\0';
  free (buf);
  return (int) len;
}

int
nimbus_kill (const char *state_root, const char *id, const char *signal, int all, char *errbuf, size_t errlen)
{
  struct libcrun_context_s ctx;
  libcrun_error_t err = NULL;
  int ret;
  init_ctx (&ctx, state_root, id);
  ret = all ? libcrun_container_killall (&ctx, id, signal, &err) : libcrun_container_kill (&ctx, id, signal, &err);
  return ret < 0 ? fail (&err, errbuf, errlen) : 0;
}

int
nimbus_delete (const char *state_root, const char *id, int force, char *errbuf, size_t errlen)
{
  struct libcrun_context_s ctx;
  libcrun_error_t err = NULL;
  int ret;
  init_ctx (&ctx, state_root, id);
  ret = libcrun_container_delete (&ctx, NULL, id, force != 0, &err);
  return ret < 0 ? fail (&err, errbuf, errlen) : 0;
}

int
nimbus_pause (const char *state_root, const char *id, char *errbuf, size_t errlen)
{
  struct libcrun_context_s ctx;
  libcrun_error_t err = NULL;
  int ret;
  init_ctx (&ctx, state_root, id);
  ret = libcrun_container_pause (&ctx, id, &err);
  return ret < 0 ? fail (&err, errbuf, errlen) : 0;
}

int
nimbus_resume (const char *state_root, const char *id, char *errbuf, size_t errlen)
{
  struct libcrun_context_s ctx;
  libcrun_error_t err = NULL;
  int ret;
  init_ctx (&ctx, state_root, id);
  ret = libcrun_container_unpause (&ctx, id, &err);
  return ret < 0 ? fail (&err, errbuf, errlen) : 0;
}

/* resources: an OCI linux.resources JSON object */
int
nimbus_update (const char *state_root, const char *id, const char *resources, char *errbuf, size_t errlen)
{
  struct libcrun_context_s ctx;
  libcrun_error_t err = NULL;
  int ret;
  init_ctx (&ctx, state_root, id);
  ret = libcrun_container_update (&ctx, id, resources, strlen (resources), &err);
  return ret < 0 ? fail (&err, errbuf, errlen) : 0;
}

/* Layout of struct libcrun_context_s as compiled: out[0] = sizeof, then offsets in the order
 * state_root id bundle console_socket pid_file notify_socket handler preserve_fds listen_fds
 * output_handler output_handler_arg fifo_exec_wait_fd systemd_cgroup detach no_subreaper
 * no_new_keyring force_no_cgroup no_pivot argv argc handler_manager. Returns the count written. */
int
nimbus_context_layout (int *out, int n)
{
  const int v[] = {
    (int) sizeof (struct libcrun_context_s),
    (int) offsetof (struct libcrun_context_s, state_root),
    (int) offsetof (struct libcrun_context_s, id),
    (int) offsetof (struct libcrun_context_s, bundle),
    (int) offsetof (struct libcrun_context_s, console_socket),
    (int) offsetof (struct libcrun_context_s, pid_file),
    (int) offsetof (struct libcrun_context_s, notify_socket),
    (int) offsetof (struct libcrun_context_s, handler),
    (int) offsetof (struct libcrun_context_s, preserve_fds),
    (int) offsetof (struct libcrun_context_s, listen_fds),
    (int) offsetof (struct libcrun_context_s, output_handler),
    (int) offsetof (struct libcrun_context_s, output_handler_arg),
    (int) offsetof (struct libcrun_context_s, fifo_exec_wait_fd),
    (int) offsetof (struct libcrun_context_s, systemd_cgroup),
    (int) offsetof (struct libcrun_context_s, detach),
    (int) offsetof (struct libcrun_context_s, no_subreaper),
    (int) offsetof (struct libcrun_context_s, no_new_keyring),
    (int) offsetof (struct libcrun_context_s, force_no_cgroup),
    (int) offsetof (struct libcrun_context_s, no_pivot),
    (int) offsetof (struct libcrun_context_s, argv),
    (int) offsetof (struct libcrun_context_s, argc),
    (int) offsetof (struct libcrun_context_s, handler_manager),
  };
  int count = (int) (sizeof v / sizeof v[0]);
  for (int i = 0; i < n && i < count; i++)
    out[i] = v[i];
  return count;
}

/* libcrun's error object: {int status; char *msg}; reported for the layout test */
int
nimbus_error_layout (int *out, int n)
{
  if (n >= 3)
    {
      out[0] = (int) sizeof (struct libcrun_error_s);
      out[1] = (int) offsetof (struct libcrun_error_s, status);
      out[2] = (int) offsetof (struct libcrun_error_s, msg);
    }
  return 3;
}
