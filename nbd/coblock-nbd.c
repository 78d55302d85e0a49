/*
 * coblock-nbd — serve a disk image over NBD
 *
 * Copyright (C) 2026 The coblock authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The command line follows qemu-nbd's for the options that apply (see
 * docs/coblock-nbd.1).  The image is opened once; every connection shares
 * its BlockBackend.  The listening sockets are watched by the main loop;
 * when the number of clients reaches the limit (-e), the listeners stop
 * accepting until one leaves, so further connections wait in the kernel's
 * backlog.  Without -t the server exits once its last client is gone.
 * SIGTERM, SIGINT and SIGHUP stop it cleanly: in-flight requests finish,
 * the image is flushed and closed, the Unix socket file is removed.
 */
#include "util/osdep.h"
#include "util/cutils.h"
#include "block/block_int.h"
#include "block/nbd.h"

#include <getopt.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define MAX_LISTENERS 16

static const char *progname = "coblock-nbd";
static const char *argv0 = "coblock-nbd";    /* as invoked, for "Try" hints */

typedef struct Server {
    AioContext *ctx;
    NBDServer *nbd;
    int listen_fds[MAX_LISTENERS];
    int nlisten;
    bool accepting;
    int shared;                 /* 0 = any number of clients */
    bool persistent;
    bool seen_client;
    bool verbose;
    volatile bool quit;
    int sigpipe[2];
} Server;

static void usage(void)
{
    printf(
"Usage: %s [OPTIONS] FILE\n"
"Serve a disk image over the Network Block Device protocol\n"
"\n"
"  -h, --help                display this help and exit\n"
"  -V, --version             output version information and exit\n"
"\n"
"Connection properties:\n"
"  -p, --port=PORT           port to listen on (default `%d')\n"
"  -b, --bind=IFACE          interface to bind to (default `0.0.0.0')\n"
"  -k, --socket=PATH         path to the unix socket\n"
"  -e, --shared=NUM          device can be shared by NUM clients (default '1',\n"
"                            0 for no limit)\n"
"  -t, --persistent          don't exit on the last connection\n"
"  -v, --verbose             display extra debugging information\n"
"  -x, --export-name=NAME    expose export by name (default is empty string)\n"
"  -D, --description=TEXT    export a human-readable description\n"
"\n"
"Exposing part of the image:\n"
"  -A, --allocation-depth    expose the allocation depth\n"
"\n"
"General purpose options:\n"
"  --fork                    fork off the server process and exit the parent\n"
"                            once the server is running\n"
"  --pid-file=PATH           store the server's process ID in the given file\n"
"\n"
"Block device options:\n"
"  -f, --format=FORMAT       set image format (raw, qcow2, ...)\n"
"  -r, --read-only           export read-only\n"
"  -U, --force-share         open the image without taking its locks (with -r\n"
"                            only: serve an image another program writes)\n"
"  -n, --nocache             disable host cache\n"
"      --cache=MODE          set cache mode used to access the disk image, the\n"
"                            valid options are: 'none', 'writeback' (default),\n"
"                            'writethrough', 'directsync' and 'unsafe'\n"
"      --aio=MODE            set AIO mode (native, io_uring or threads)\n"
"      --discard=MODE        set discard mode (ignore, unmap)\n"
"      --detect-zeroes=MODE  set detect-zeroes mode (off, on, unmap)\n"
"      --image-opts          treat FILE as a full set of image options\n"
"\n"
"TLS is not supported.\n",
        progname, NBD_DEFAULT_PORT);
}

static void QEMU_NORETURN bad_usage(const char *fmt, ...) QEMU_PRINTF(1, 2);
static void bad_usage(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_vreport(fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try `%s --help' for more information.\n", argv0);
    exit(EXIT_FAILURE);
}

/* ---- the listeners ---- */

static void server_accept(void *opaque);

static void server_set_accepting(Server *srv, bool on)
{
    int i;

    if (srv->accepting == on) {
        return;
    }
    srv->accepting = on;
    for (i = 0; i < srv->nlisten; i++) {
        aio_set_fd_handler(srv->ctx, srv->listen_fds[i],
                           on ? server_accept : NULL, NULL, srv);
    }
}

static bool server_has_room(Server *srv)
{
    return srv->shared == 0 ||
           nbd_server_client_count(srv->nbd) < (unsigned)srv->shared;
}

static void server_accept(void *opaque)
{
    Server *srv = opaque;
    int i;

    for (i = 0; i < srv->nlisten && server_has_room(srv); i++) {
        int fd = nbd_socket_accept(srv->listen_fds[i]);

        if (fd < 0) {
            if (fd != -EAGAIN && fd != -EWOULDBLOCK && srv->verbose) {
                fprintf(stderr, "%s: accept failed: %s\n", progname,
                        strerror(-fd));
            }
            continue;
        }
        srv->seen_client = true;
        if (srv->verbose) {
            fprintf(stderr, "%s: client connected\n", progname);
        }
        nbd_server_add_client(srv->nbd, fd);
    }
    if (!server_has_room(srv)) {
        server_set_accepting(srv, false);
    }
}

static void server_client_closed(NBDServer *nbd, void *opaque)
{
    Server *srv = opaque;

    if (srv->verbose) {
        fprintf(stderr, "%s: client disconnected\n", progname);
    }
    if (!srv->persistent && nbd_server_client_count(nbd) == 0) {
        srv->quit = true;
        return;
    }
    if (!srv->quit && server_has_room(srv)) {
        server_set_accepting(srv, true);
    }
}

/* ---- signals ---- */

static int signal_wfd = -1;

static void on_signal(int sig)
{
    char c = (char)sig;
    int saved = errno;

    if (write(signal_wfd, &c, 1) < 0) {
        /* The pipe is full: a quit is pending anyway. */
    }
    errno = saved;
}

static void server_signal_read(void *opaque)
{
    Server *srv = opaque;
    char buf[16];

    while (read(srv->sigpipe[0], buf, sizeof(buf)) > 0) {
    }
    srv->quit = true;
}

static void setup_signals(Server *srv)
{
    struct sigaction sa;

    if (pipe(srv->sigpipe) < 0) {
        error_report("Failed to create a pipe: %s", strerror(errno));
        exit(EXIT_FAILURE);
    }
    fcntl(srv->sigpipe[0], F_SETFL, O_NONBLOCK);
    fcntl(srv->sigpipe[1], F_SETFL, O_NONBLOCK);
    fcntl(srv->sigpipe[0], F_SETFD, FD_CLOEXEC);
    fcntl(srv->sigpipe[1], F_SETFD, FD_CLOEXEC);
    signal_wfd = srv->sigpipe[1];
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    aio_set_fd_handler(srv->ctx, srv->sigpipe[0], server_signal_read, NULL, srv);
}

/* ---- daemonising ---- */

/* Fork: the parent waits until the child reports that it listens (one
 * byte on the pipe) and exits with its status. */
static int daemon_fork(void)
{
    int p[2];
    pid_t pid;

    if (pipe(p) < 0) {
        error_report("Failed to create a pipe: %s", strerror(errno));
        exit(EXIT_FAILURE);
    }
    pid = fork();
    if (pid < 0) {
        error_report("Failed to fork: %s", strerror(errno));
        exit(EXIT_FAILURE);
    }
    if (pid > 0) {
        char c;
        ssize_t n;

        close(p[1]);
        do {
            n = read(p[0], &c, 1);
        } while (n < 0 && errno == EINTR);
        if (n == 1) {
            exit(EXIT_SUCCESS);
        }
        /* The child failed before listening; it reported why. */
        waitpid(pid, NULL, 0);
        exit(EXIT_FAILURE);
    }
    close(p[0]);
    setsid();
    return p[1];
}

static void daemon_ready(int fd)
{
    char c = 0;
    int null;

    if (fd < 0) {
        return;
    }
    if (write(fd, &c, 1) < 0) {
        /* The parent is gone; nothing to tell. */
    }
    close(fd);
    /* From now on there is no terminal to talk to. */
    null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        if (null > STDERR_FILENO) {
            close(null);
        }
    }
}

static bool write_pid_file(const char *path)
{
    char buf[32];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int len;

    if (fd < 0) {
        error_report("Cannot open pid file, %s", strerror(errno));
        return false;
    }
    len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    if (write(fd, buf, (size_t)len) != len) {
        error_report("Failed to write pid file '%s': %s", path, strerror(errno));
        close(fd);
        return false;
    }
    close(fd);
    return true;
}

enum {
    OPT_CACHE = 256,
    OPT_AIO,
    OPT_DISCARD,
    OPT_DETECT_ZEROES,
    OPT_IMAGE_OPTS,
    OPT_FORK,
    OPT_PID_FILE,
};

int main(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { "port", required_argument, NULL, 'p' },
        { "bind", required_argument, NULL, 'b' },
        { "socket", required_argument, NULL, 'k' },
        { "shared", required_argument, NULL, 'e' },
        { "persistent", no_argument, NULL, 't' },
        { "verbose", no_argument, NULL, 'v' },
        { "export-name", required_argument, NULL, 'x' },
        { "description", required_argument, NULL, 'D' },
        { "allocation-depth", no_argument, NULL, 'A' },
        { "format", required_argument, NULL, 'f' },
        { "read-only", no_argument, NULL, 'r' },
        { "force-share", no_argument, NULL, 'U' },
        { "nocache", no_argument, NULL, 'n' },
        { "cache", required_argument, NULL, OPT_CACHE },
        { "aio", required_argument, NULL, OPT_AIO },
        { "discard", required_argument, NULL, OPT_DISCARD },
        { "detect-zeroes", required_argument, NULL, OPT_DETECT_ZEROES },
        { "image-opts", no_argument, NULL, OPT_IMAGE_OPTS },
        { "fork", no_argument, NULL, OPT_FORK },
        { "pid-file", required_argument, NULL, OPT_PID_FILE },
        { NULL, 0, NULL, 0 }
    };
    Server srv;
    NBDAddress addr = { .type = NBD_ADDRESS_INET };
    NBDExportConfig cfg = { .name = "" };
    const char *fmt = NULL, *bindto = "0.0.0.0", *port = NULL, *sockpath = NULL;
    const char *pid_file = NULL, *detect_zeroes = NULL;
    bool read_only = false, image_opts = false, writethrough = false;
    bool do_fork = false, cache_seen = false, force_share = false;
    int flags = 0, ch, i, ready_fd = -1;
    BlockBackend *blk;
    QDict *options;
    Error *err = NULL;

    error_set_progname(argv[0]);
    argv0 = argv[0];
    memset(&srv, 0, sizeof(srv));
    srv.shared = 1;
    srv.sigpipe[0] = srv.sigpipe[1] = -1;

    while ((ch = getopt_long(argc, argv, "hVp:b:k:e:tvx:D:Af:rnU", long_options,
                             NULL)) != -1) {
        switch (ch) {
        case 'h':
            usage();
            return EXIT_SUCCESS;
        case 'V':
            printf("%s %s\n", progname, PACKAGE_VERSION);
            return EXIT_SUCCESS;
        case 'p':
            port = optarg;
            break;
        case 'b':
            bindto = optarg;
            break;
        case 'k':
            sockpath = optarg;
            break;
        case 'e': {
            int64_t n;

            if (qemu_strtoi64(optarg, NULL, 0, &n) < 0 || n < 0 || n > INT_MAX) {
                error_report("Invalid shared device number '%s'", optarg);
                return EXIT_FAILURE;
            }
            srv.shared = (int)n;
            break;
        }
        case 't':
            srv.persistent = true;
            break;
        case 'v':
            srv.verbose = true;
            break;
        case 'x':
            cfg.name = optarg;
            if (strlen(optarg) > NBD_MAX_STRING_SIZE) {
                error_report("export name '%s' too long", optarg);
                return EXIT_FAILURE;
            }
            break;
        case 'D':
            cfg.description = optarg;
            if (strlen(optarg) > NBD_MAX_STRING_SIZE) {
                error_report("description '%s' too long", optarg);
                return EXIT_FAILURE;
            }
            break;
        case 'A':
            cfg.allocation_depth = true;
            break;
        case 'f':
            fmt = optarg;
            break;
        case 'r':
            read_only = true;
            break;
        case 'U':
            force_share = true;
            break;
        case 'n':
            optarg = (char *)"none";
            QEMU_FALLTHROUGH;
        case OPT_CACHE:
            if (cache_seen) {
                error_report("-n and --cache can only be specified once");
                return EXIT_FAILURE;
            }
            cache_seen = true;
            if (bdrv_parse_cache_mode(optarg, &flags, &writethrough) < 0) {
                error_report("Invalid cache mode `%s'", optarg);
                return EXIT_FAILURE;
            }
            break;
        case OPT_AIO:
            if (bdrv_parse_aio(optarg, &flags) < 0) {
                error_report("Invalid aio mode '%s'", optarg);
                return EXIT_FAILURE;
            }
            break;
        case OPT_DISCARD:
            if (bdrv_parse_discard_flags(optarg, &flags) < 0) {
                error_report("Invalid discard mode `%s'", optarg);
                return EXIT_FAILURE;
            }
            break;
        case OPT_DETECT_ZEROES:
            if (strcmp(optarg, "off") && strcmp(optarg, "on") &&
                strcmp(optarg, "unmap")) {
                error_report("Failed to parse detect_zeroes mode: "
                             "invalid parameter value: %s", optarg);
                return EXIT_FAILURE;
            }
            detect_zeroes = optarg;
            break;
        case OPT_IMAGE_OPTS:
            image_opts = true;
            break;
        case OPT_FORK:
            do_fork = true;
            break;
        case OPT_PID_FILE:
            pid_file = optarg;
            break;
        default:
            error_report("Try `%s --help' for more information.", argv0);
            return EXIT_FAILURE;
        }
    }
    if (argc - optind != 1) {
        bad_usage("Invalid number of arguments");
    }
    if (detect_zeroes && !strcmp(detect_zeroes, "unmap") &&
        !(flags & BDRV_O_UNMAP)) {
        error_report("setting detect-zeroes to unmap is not allowed "
                     "without setting discard operation to unmap");
        return EXIT_FAILURE;
    }
    if (image_opts && fmt) {
        error_report("--image-opts and -f are mutually exclusive");
        return EXIT_FAILURE;
    }

    if (do_fork) {
        ready_fd = daemon_fork();
    }

    /* The image. */
    bdrv_init();
    srv.ctx = qemu_get_aio_context();
    if (image_opts) {
        options = qdict_parse_keyval(argv[optind], NULL, &err);
        if (!options) {
            error_report_err(err);
            return EXIT_FAILURE;
        }
    } else {
        options = qdict_new();
        if (fmt) {
            qdict_put_str(options, "driver", fmt);
        }
    }
    if (detect_zeroes) {
        qdict_put_str(options, "detect-zeroes", detect_zeroes);
    }
    if (!read_only) {
        flags |= BDRV_O_RDWR;
    }
    if (force_share) {
        /* The block layer refuses it for a writable image, in QEMU's
         * words. */
        flags |= BDRV_O_FORCE_SHARE;
    }
    blk = blk_new_open_noprefix(image_opts ? NULL : argv[optind], options, flags,
                                &err);
    if (!blk) {
        error_prepend(&err, "Failed to blk_new_open '%s': ", argv[optind]);
        error_report_err(err);
        return EXIT_FAILURE;
    }
    blk_set_enable_write_cache(blk, !writethrough);

    srv.nbd = nbd_server_new(srv.ctx, server_client_closed, &srv);
    cfg.read_only = read_only;
    cfg.multi_conn = srv.shared != 1;
    if (!nbd_export_new(srv.nbd, blk, &cfg, &err)) {
        error_report_err(err);
        blk_unref(blk);
        nbd_server_free(srv.nbd);
        return EXIT_FAILURE;
    }

    /* The sockets. */
    if (sockpath) {
        addr.type = NBD_ADDRESS_UNIX;
        addr.path = qemu_xstrdup(sockpath);
    } else {
        addr.host = qemu_xstrdup(bindto);
        addr.port = port ? qemu_xstrdup(port) : qemu_xasprintf("%d", NBD_DEFAULT_PORT);
    }
    srv.nlisten = nbd_socket_listen(&addr, srv.listen_fds, MAX_LISTENERS, &err);
    if (srv.nlisten < 0) {
        error_report_err(err);
        nbd_address_clear(&addr);
        nbd_server_free(srv.nbd);
        return EXIT_FAILURE;
    }
    for (i = 0; i < srv.nlisten; i++) {
        fcntl(srv.listen_fds[i], F_SETFL,
              fcntl(srv.listen_fds[i], F_GETFL) | O_NONBLOCK);
    }
    if (pid_file && !write_pid_file(pid_file)) {
        for (i = 0; i < srv.nlisten; i++) {
            close(srv.listen_fds[i]);
        }
        if (sockpath) {
            unlink(sockpath);
        }
        nbd_address_clear(&addr);
        nbd_server_free(srv.nbd);
        return EXIT_FAILURE;
    }
    setup_signals(&srv);
    server_set_accepting(&srv, true);
    daemon_ready(ready_fd);

    while (!srv.quit) {
        aio_poll(srv.ctx, true);
    }

    /* Stop: no new clients, let the others finish, close the image. */
    server_set_accepting(&srv, false);
    srv.persistent = true;      /* no more quitting from the callback */
    nbd_server_shutdown(srv.nbd);
    while (nbd_server_client_count(srv.nbd) > 0) {
        aio_poll(srv.ctx, true);
    }
    for (i = 0; i < srv.nlisten; i++) {
        close(srv.listen_fds[i]);
    }
    if (sockpath) {
        unlink(sockpath);
    }
    aio_set_fd_handler(srv.ctx, srv.sigpipe[0], NULL, NULL, NULL);
    close(srv.sigpipe[0]);
    close(srv.sigpipe[1]);
    nbd_server_free(srv.nbd);   /* flushes and closes the image */
    nbd_address_clear(&addr);
    return EXIT_SUCCESS;
}
