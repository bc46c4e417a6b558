#include "core/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/banned.h"

static void err_vformat(struct nsh_err *err, const char *fmt, va_list ap)
{
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int nsh_err_set(struct nsh_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	va_start(ap, fmt);
	err_vformat(err, fmt, ap);
	va_end(ap);
	return code;
}

static int code_for_errno(int errnum)
{
	switch (errnum) {
	case ENOENT:
		return NSH_ENOTFOUND;
	case EEXIST:
		return NSH_EEXIST;
	case EACCES:
	case EPERM:
		return NSH_EDENIED;
	default:
		return NSH_EIO;
	}
}

int nsh_err_sys(struct nsh_err *err, int errnum, const char *fmt, ...)
{
	int code = code_for_errno(errnum);
	size_t len;
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	va_start(ap, fmt);
	err_vformat(err, fmt, ap);
	va_end(ap);
	len = strlen(err->msg);
	if (snprintf(err->msg + len, sizeof(err->msg) - len, ": %s", strerror(errnum)) < 0)
		err->msg[len] = '\0';
	return code;
}

int nsh_err_wrap(struct nsh_err *err, const char *fmt, ...)
{
	char ctx[NSH_ERR_MSG_MAX];
	char old[NSH_ERR_MSG_MAX];
	va_list ap;

	if (!err)
		return NSH_EFAIL;
	if (err->code == NSH_OK)
		err->code = NSH_EFAIL;
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	if (snprintf(err->msg, sizeof(err->msg), "%s: %s", ctx, old) >= (int)sizeof(err->msg))
		err->msg[sizeof(err->msg) - 1] = '\0'; /* cut, still terminated */
	return err->code;
}

void nsh_err_clear(struct nsh_err *err)
{
	if (!err)
		return;
	err->code = NSH_OK;
	err->msg[0] = '\0';
}

const char *nsh_err_name(int code)
{
	switch ((enum nsh_errcode)code) {
	case NSH_OK:
		return "ok";
	case NSH_EFAIL:
		return "failed";
	case NSH_ENOTFOUND:
		return "not_found";
	case NSH_EEXIST:
		return "exists";
	case NSH_EINVAL:
		return "invalid";
	case NSH_ETOOBIG:
		return "too_big";
	case NSH_ECONFLICT:
		return "conflict";
	case NSH_EBUSY:
		return "busy";
	case NSH_ETIMEOUT:
		return "timeout";
	case NSH_EIO:
		return "io";
	case NSH_EUSAGE:
		return "usage";
	case NSH_EVERSION:
		return "version";
	case NSH_EDENIED:
		return "denied";
	}
	return "failed";
}
