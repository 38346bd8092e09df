/*
 * pgembed.c - the embedded PostgreSQL cluster (SPEC section 5).
 *
 * Purpose.  When no database is configured, riskpipe keeps a private cluster
 * in a home folder and drives it with the server's own tools: initdb on first
 * use, pg_ctl to start and stop, libpq to ping it and to create the database
 * "riskpipe".  Layout (HOME is absolute, see pgembed_home()):
 *     HOME/                  mode 0700, owned by the cluster's account
 *     HOME/.s.PGSQL.5432     the only way in: no TCP listener at all
 *     HOME/data/             the data directory (initdb)
 *     HOME/data/riskpipe.conf  our settings, rewritten before every start
 *     HOME/server.log        the server's log (pg_ctl -l)
 *     HOME/pgembed.log       what initdb and pg_ctl printed
 *     HOME/pgembed.lock      serialises concurrent start/stop calls
 *
 * Invariants.
 *  - Access control is the file system: initdb --auth=trust, but the socket
 *    lives in a 0700 folder and has mode 0700 itself, so only the cluster's
 *    account (and root) can connect.  listen_addresses is '' so nothing
 *    listens on TCP; we never ship a password anywhere.
 *  - The cluster's account is the owner of HOME/data once it exists.  As an
 *    ordinary user that is the user; as root it is `postgres` (else
 *    `nobody`) for a new cluster, because initdb and postgres refuse to run
 *    as root.  Root can therefore also manage a cluster some user made.
 *  - Children are started with fork + execve and argv arrays, never through
 *    a shell we build, so no path is ever re-parsed.  Everything that is not
 *    async-signal-safe (PATH search, group list, environment copy) is done
 *    before fork(), because riskpipe may have other threads (BLAS).
 *  - Library code: nothing is printed, nothing exits (except the forked child
 *    when exec fails).  Output of the tools goes to HOME/pgembed.log and the
 *    tail of it (or of server.log) becomes the error's detail.
 *
 * Error codes.  Anything that leaves the database unavailable is RP_EDB (exit
 * 3): no server binaries, a home folder we cannot use, initdb or pg_ctl
 * failing, the server not answering.  RP_EINTERNAL is kept for fork/pipe
 * failures and other resource errors.
 *
 * Why the settings are in a file of their own: postgresql.conf gets one
 * `include_if_exists = 'riskpipe.conf'` line at the end, and riskpipe.conf is
 * rewritten (atomically) before every start.  So a moved home folder gets
 * its new socket directory, a newer riskpipe can change a setting, and ALTER
 * SYSTEM (postgresql.auto.conf, read last) still overrides us.
 *
 * Environment: RISKPIPE_HOME (the home folder), RISKPIPE_PG_BINDIR (server
 * binaries to use, first choice), RISKPIPE_PG_OPTS (extra server options,
 * passed as `pg_ctl -o`).
 */
#include "pgembed.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "util/mem.h"
#include "util/strbuf.h"

extern char **environ;

#define PGE_PORT      "5432"
#define PGE_SOCKET    ".s.PGSQL." PGE_PORT
#define PGE_DBNAME    "riskpipe"
#define PGE_WAIT_SECS 60      /* pg_ctl -t and our own waits */
#define PGE_WAIT_STR  "60"
#define PGE_TAIL      900     /* bytes of log kept in an error's detail */
#define PGE_CONF_LINE "include_if_exists = 'riskpipe.conf'  # added by riskpipe"

/*
 * One call's view of a cluster.  Paths are derived from home; the account
 * fields say who the server runs as.  setid is 1 when we are root and each
 * child must switch to uid/gid/groups before exec.
 */
typedef struct pge {
    char *home, *data, *slog, *plog, *lock;
    char *bindir;          /* server binaries; NULL until pge_bindir() */
    char *user;            /* account name; NULL when it has none */
    uid_t uid;
    gid_t gid;
    gid_t *groups;         /* supplementary groups of the account (setid) */
    int ngroups;
    int setid;
} pge;

/* ------------------------------------------------------------------ */
/* The home folder                                                     */
/* ------------------------------------------------------------------ */

/* Resolves symlinks, "." and ".." in an absolute path whose tail may not
 * exist yet: the existing part goes through realpath(), the rest is
 * appended lexically (it has no symlinks because it does not exist). */
static char *path_resolve(const char *path)
{
    char buf[PATH_MAX], *parent, *rp, *out, *slash;
    const char *last;

    if (realpath(path, buf))
        return xstrdup(buf);
    slash = strrchr(path, '/');
    if (!slash || slash == path)
        return xstrdup(path[0] == '/' && !path[1] ? "/" : path);
    parent = xstrndup(path, (size_t)(slash - path));
    last = slash + 1;
    rp = path_resolve(parent);
    free(parent);
    if (!*last || !strcmp(last, "."))
        return rp;
    if (!strcmp(last, "..")) {
        slash = strrchr(rp, '/');
        if (slash)
            slash[slash == rp ? 1 : 0] = '\0';
        return rp;
    }
    out = xasprintf("%s%s%s", rp, strcmp(rp, "/") ? "/" : "", last);
    free(rp);
    return out;
}

char *pgembed_home(void)
{
    const char *env = getenv("RISKPIPE_HOME");
    const char *p = env && *env ? env : ".riskpipe";
    char cwd[PATH_MAX], *abs, *out;

    if (p[0] == '/')
        abs = xstrdup(p);
    else if (getcwd(cwd, sizeof cwd))
        abs = xasprintf("%s/%s", cwd, p);
    else
        return xstrdup(p);   /* no cwd: keep it relative, pge_check_home says so */
    out = path_resolve(abs);
    free(abs);
    return out;
}

/*
 * The socket path must fit in sockaddr_un.sun_path (108 bytes with the NUL on
 * Linux), the folder name must survive the double quotes pg_ctl puts around
 * paths in the shell command it runs, and libpq splits host at commas.
 * Spaces and single quotes are fine (conninfo and config quoting below).
 */
static int pge_check_home(const pge *c, rp_err *e)
{
    size_t n = strlen(c->home) + 1 + strlen(PGE_SOCKET);
    size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
    const char *s;

    if (c->home[0] != '/')
        return rp_err_set(e, RP_EDB, "the home folder \"%s\" is not an absolute path",
                          c->home);
    if (n > max) {
        rp_err_set(e, RP_EDB, "the home folder path is too long for a unix socket");
        rp_err_detail(e, "\"%s/%s\" is %zu bytes; the limit is %zu", c->home, PGE_SOCKET,
                      n, max);
        rp_err_hint(e, "set RISKPIPE_HOME to a shorter path, e.g. RISKPIPE_HOME=/var/tmp/riskpipe");
        return RP_EDB;
    }
    for (s = c->home; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f || strchr("\"$`\\,", *s)) {
            rp_err_set(e, RP_EDB, "the home folder \"%s\" contains a character that "
                       "cannot be passed to PostgreSQL", c->home);
            rp_err_detail(e, "double quotes, $, ` and backslashes (pg_ctl quotes paths for "
                          "a shell), commas (libpq reads host as a list) and control "
                          "characters are not allowed");
            rp_err_hint(e, "set RISKPIPE_HOME to a plainer path");
            return RP_EDB;
        }
    }
    return RP_OK;
}

/* ------------------------------------------------------------------ */
/* The account the cluster runs as                                     */
/* ------------------------------------------------------------------ */

/* Which account: see the invariants at the top.  Fills uid/gid/user and,
 * for root, the supplementary groups (computed here, before any fork). */
static void pge_account(pge *c)
{
    struct passwd *pw;
    struct stat st;
    int n = 16;

    c->setid = geteuid() == 0;
    if (!c->setid)
        pw = getpwuid(geteuid());
    else if (stat(c->data, &st) == 0 && st.st_uid != 0)
        pw = getpwuid(st.st_uid);
    else if (!(pw = getpwnam("postgres")))
        pw = getpwnam("nobody");
    if (!pw) {
        c->uid = geteuid();
        c->gid = getegid();
        return;
    }
    c->user = xstrdup(pw->pw_name);
    c->uid = pw->pw_uid;
    c->gid = pw->pw_gid;
    if (!c->setid)
        return;
    c->groups = xmallocarray((size_t)n, sizeof *c->groups);
    while (getgrouplist(c->user, c->gid, c->groups, &n) < 0) {
        n = n < 16 ? 32 : 2 * n;
        c->groups = xreallocarray(c->groups, (size_t)n, sizeof *c->groups);
    }
    c->ngroups = n;
}

static void pge_init(pge *c, const char *home)
{
    memset(c, 0, sizeof *c);
    c->home = home ? xstrdup(home) : pgembed_home();
    c->data = xasprintf("%s/data", c->home);
    c->slog = xasprintf("%s/server.log", c->home);
    c->plog = xasprintf("%s/pgembed.log", c->home);
    c->lock = xasprintf("%s/pgembed.lock", c->home);
    pge_account(c);
}

static void pge_free(pge *c)
{
    free(c->home);
    free(c->data);
    free(c->slog);
    free(c->plog);
    free(c->lock);
    free(c->bindir);
    free(c->user);
    free(c->groups);
}

/* pge_init() plus the checks every operation needs. */
static int pge_open(pge *c, const char *home, rp_err *e)
{
    pge_init(c, home);
    if (pge_check_home(c, e))
        return e ? e->code : RP_EDB;
    if (!c->user) {
        rp_err_set(e, RP_EDB, "no account to run the embedded server as");
        rp_err_detail(e, c->setid ? "neither \"postgres\" nor \"nobody\" exists"
                                  : "user id %u has no name in the password database",
                      (unsigned)geteuid());
        rp_err_hint(e, c->setid ? "create one: useradd --system postgres"
                                : "run riskpipe as a user listed in /etc/passwd");
        return RP_EDB;
    }
    return RP_OK;
}

/* Name of a uid for messages (static buffer: one message at a time). */
static const char *uid_name(uid_t uid)
{
    static char buf[32];
    struct passwd *pw = getpwuid(uid);

    if (pw)
        return pw->pw_name;
    snprintf(buf, sizeof buf, "%u", (unsigned)uid);
    return buf;
}

/* ------------------------------------------------------------------ */
/* Preparing the home folder                                           */
/* ------------------------------------------------------------------ */

/* Whether the account may search directory st, by the classic owner /
 * group / other rule (ACLs are not consulted: a false refusal, never a
 * false pass, since ACLs on these paths are rare). */
static int may_traverse(const pge *c, const struct stat *st)
{
    int i;

    if (st->st_uid == c->uid)
        return (st->st_mode & S_IXUSR) != 0;
    if (st->st_gid == c->gid)
        return (st->st_mode & S_IXGRP) != 0;
    for (i = 0; i < c->ngroups; i++)
        if (c->groups[i] == st->st_gid)
            return (st->st_mode & S_IXGRP) != 0;
    return (st->st_mode & S_IXOTH) != 0;
}

/* As root, each ancestor of HOME must be searchable by the account, or the
 * server could not reach its own data directory (mktemp -d makes 0700
 * folders; /root is 0700). */
static int check_traversable(const pge *c, rp_err *e)
{
    char *dir = xstrdup(c->home), *p;
    struct stat st;
    int rc = RP_OK;

    for (p = dir; rc == RP_OK && (p = strchr(p + 1, '/')) != NULL;) {
        *p = '\0';
        if (stat(*dir ? dir : "/", &st) == 0 && !may_traverse(c, &st)) {
            rc = rp_err_set(e, RP_EDB, "the \"%s\" account cannot reach the home folder "
                            "\"%s\"", c->user, c->home);
            rp_err_detail(e, "directory \"%s\" (mode %03o, owner %s) is not searchable "
                          "by it", dir, (unsigned)(st.st_mode & 07777), uid_name(st.st_uid));
            rp_err_hint(e, "as root the server runs as \"%s\": chmod o+x \"%s\", or set "
                        "RISKPIPE_HOME=/var/tmp/riskpipe", c->user, dir);
        }
        *p = '/';
    }
    if (rc == RP_OK && stat("/", &st) == 0 && !may_traverse(c, &st))
        rc = rp_err_set(e, RP_EDB, "the \"%s\" account cannot search \"/\"", c->user);
    free(dir);
    return rc;
}

/* mkdir -p for the ancestors of HOME; new ones get 0755 whatever the umask,
 * so that the server's account can pass through them. */
static int mkdir_parents(const char *home, rp_err *e)
{
    char *dir = xstrdup(home), *p;
    int rc = RP_OK;

    for (p = dir; rc == RP_OK && (p = strchr(p + 1, '/')) != NULL;) {
        *p = '\0';
        if (mkdir(dir, 0755) == 0)
            chmod(dir, 0755);
        else if (errno != EEXIST)
            rc = rp_err_set(e, RP_EDB, "could not create directory \"%s\": %s", dir,
                            strerror(errno));
        *p = '/';
    }
    free(dir);
    return rc;
}

static int dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;
    int empty = 1;

    if (!d)
        return 0;
    while (empty && (de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            empty = 0;
    closedir(d);
    return empty;
}

/*
 * Makes HOME exist, owned by the account, mode 0700.  An existing folder is
 * only re-owned or re-moded when it is empty and ours (RISKPIPE_HOME=/tmp as
 * root must not chown /tmp); otherwise it must already be right.
 */
static int home_prepare(const pge *c, rp_err *e)
{
    struct stat st;
    int fresh = 0;

    /* Ancestors that do not exist yet are skipped by the check and made
     * 0755 by mkdir_parents(), so checking first creates nothing in vain. */
    if ((c->setid && check_traversable(c, e)) || mkdir_parents(c->home, e))
        return e ? e->code : RP_EDB;
    if (mkdir(c->home, 0700) == 0)
        fresh = 1;
    else if (errno != EEXIST)
        return rp_err_set(e, RP_EDB, "could not create the home folder \"%s\": %s",
                          c->home, strerror(errno));
    if (stat(c->home, &st) != 0 || !S_ISDIR(st.st_mode))
        return rp_err_set(e, RP_EDB, "the home folder \"%s\" is not a directory", c->home);
    if (!fresh && st.st_uid == geteuid() && dir_is_empty(c->home))
        fresh = 1;   /* e.g. a folder made by mktemp -d for us */
    if (fresh && (chmod(c->home, 0700) != 0 ||
                  (c->setid && chown(c->home, c->uid, c->gid) != 0)))
        return rp_err_set(e, RP_EDB, "could not set up the home folder \"%s\": %s",
                          c->home, strerror(errno));
    if (fresh && stat(c->home, &st) != 0)
        return rp_err_set(e, RP_EDB, "could not stat \"%s\": %s", c->home, strerror(errno));
    if (st.st_uid != c->uid) {
        rp_err_set(e, RP_EDB, "the home folder \"%s\" belongs to account \"%s\", not \"%s\"",
                   c->home, uid_name(st.st_uid), c->user);
        rp_err_hint(e, "run riskpipe as that account, or set RISKPIPE_HOME to another folder");
        return RP_EDB;
    }
    if (st.st_mode & 022) {
        rp_err_set(e, RP_EDB, "the home folder \"%s\" is writable by other users", c->home);
        rp_err_hint(e, "chmod 700 \"%s\", or set RISKPIPE_HOME to a new folder", c->home);
        return RP_EDB;
    }
    return RP_OK;
}

/* ------------------------------------------------------------------ */
/* Finding the server binaries                                         */
/* ------------------------------------------------------------------ */

static int has_tools(const char *dir)
{
    static const char *const tools[] = {"initdb", "pg_ctl", "postgres"};
    size_t i;
    int ok = 1;

    for (i = 0; ok && i < sizeof tools / sizeof *tools; i++) {
        char *p = xasprintf("%s/%s", dir, tools[i]);
        ok = access(p, X_OK) == 0;
        free(p);
    }
    return ok;
}

/* The first directory of $PATH holding an executable called name (xmalloc'd
 * full path of the file), or NULL. */
static char *path_find(const char *name, int want_tools)
{
    const char *path = getenv("PATH"), *s, *end;
    char *out = NULL;

    for (s = path ? path : ""; !out && *s; s = *end ? end + 1 : end) {
        char *dir, *f;
        end = strchr(s, ':');
        if (!end)
            end = s + strlen(s);
        dir = end > s ? xstrndup(s, (size_t)(end - s)) : xstrdup(".");
        f = xasprintf("%s/%s", dir, name);
        if (access(f, X_OK) == 0 && (!want_tools || has_tools(dir)))
            out = want_tools ? xstrdup(dir) : xstrdup(f);
        free(f);
        free(dir);
    }
    return out;
}

static char **child_env(void);
static void child_exec(const pge *c, char *const argv[], char **envp, int in, int out,
                       const char *cwd);

/* `pg_config --bindir`, run as ourselves with stdout on a pipe.  Its output
 * is one short line, far below the pipe's capacity, so reading after the
 * child has exited cannot deadlock. */
static char *bindir_pg_config(void)
{
    char *exe = path_find("pg_config", 0), buf[PATH_MAX + 1], **envp;
    char *argv[3];
    int fds[2], devnull, status;
    ssize_t n;
    pid_t pid;

    if (!exe)
        return NULL;
    argv[0] = exe;
    argv[1] = "--bindir";
    argv[2] = NULL;
    if (pipe(fds) != 0) {
        free(exe);
        return NULL;
    }
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    envp = child_env();
    pid = fork();
    if (pid == 0) {
        close(fds[0]);
        child_exec(NULL, argv, envp, devnull, fds[1], NULL);
    }
    close(fds[1]);
    n = pid > 0 ? read(fds[0], buf, sizeof buf - 1) : -1;
    close(fds[0]);
    if (devnull >= 0)
        close(devnull);
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    free(envp);
    free(exe);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    return buf[0] == '/' ? xstrdup(buf) : NULL;
}

/* Parses a Debian version folder name ("15", "9.6") into a sortable number;
 * -1 for anything else. */
static long version_key(const char *name)
{
    char *end;
    long major = strtol(name, &end, 10), minor = 0;

    if (end == name || major < 0)
        return -1;
    if (*end == '.')
        minor = strtol(end + 1, &end, 10);
    return *end ? -1 : major * 1000 + minor;
}

/* The highest /usr/lib/postgresql/N/bin that has the tools. */
static char *bindir_usrlib(void)
{
    DIR *d = opendir("/usr/lib/postgresql");
    struct dirent *de;
    char *best = NULL;
    long best_key = -1;

    if (!d)
        return NULL;
    while ((de = readdir(d)) != NULL) {
        long k = version_key(de->d_name);
        char *dir;
        if (k <= best_key)
            continue;
        dir = xasprintf("/usr/lib/postgresql/%s/bin", de->d_name);
        if (has_tools(dir)) {
            free(best);
            best = dir;
            best_key = k;
        } else {
            free(dir);
        }
    }
    closedir(d);
    return best;
}

/* The version an existing cluster was made with (HOME/data/PG_VERSION),
 * whose own binaries are the best choice when installed side by side. */
static char *bindir_cluster_version(const pge *c)
{
    char *path = xasprintf("%s/PG_VERSION", c->data), ver[32], *dir = NULL;
    FILE *f = fopen(path, "r");

    free(path);
    if (!f)
        return NULL;
    if (fgets(ver, sizeof ver, f)) {
        ver[strcspn(ver, "\r\n")] = '\0';
        if (version_key(ver) >= 0) {
            dir = xasprintf("/usr/lib/postgresql/%s/bin", ver);
            if (!has_tools(dir)) {
                free(dir);
                dir = NULL;
            }
        }
    }
    fclose(f);
    return dir;
}

/* Sets c->bindir: RISKPIPE_PG_BINDIR, the cluster's own version, pg_config
 * --bindir, the highest /usr/lib/postgresql/N/bin, then PATH. */
static int pge_bindir(pge *c, rp_err *e)
{
    const char *env = getenv("RISKPIPE_PG_BINDIR");
    char *dir;

    if (c->bindir)
        return RP_OK;
    if (env && *env) {
        if (!has_tools(env)) {
            rp_err_set(e, RP_EDB, "RISKPIPE_PG_BINDIR \"%s\" lacks initdb, pg_ctl or postgres",
                       env);
            rp_err_hint(e, "unset RISKPIPE_PG_BINDIR to search the usual places");
            return RP_EDB;
        }
        c->bindir = xstrdup(env);
        return RP_OK;
    }
    dir = bindir_cluster_version(c);
    if (!dir && (dir = bindir_pg_config()) != NULL && !has_tools(dir)) {
        free(dir);   /* pg_config of a client-only install: no server here */
        dir = NULL;
    }
    if (!dir)
        dir = bindir_usrlib();
    if (!dir)
        dir = path_find("initdb", 1);
    if (!dir) {
        rp_err_set(e, RP_EDB, "the PostgreSQL server programs were not found");
        rp_err_detail(e, "looked for initdb, pg_ctl and postgres in `pg_config --bindir`, "
                      "/usr/lib/postgresql/*/bin and $PATH");
        rp_err_hint(e, "install them: apt-get install postgresql-15 (or set "
                    "RISKPIPE_PG_BINDIR, or point --db at an existing server)");
        return RP_EDB;
    }
    c->bindir = dir;
    return RP_OK;
}

/* ------------------------------------------------------------------ */
/* Running the tools                                                   */
/* ------------------------------------------------------------------ */

/* A copy of the environment without PG* variables (PGDATA, PGPORT,
 * PGHOST... would redirect initdb and pg_ctl).  The strings are shared with
 * environ; free only the array. */
static char **child_env(void)
{
    size_t n = 0, k = 0;
    char **envp;

    while (environ && environ[n])
        n++;
    envp = xmallocarray(n + 1, sizeof *envp);
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "PG", 2) != 0)
            envp[k++] = environ[i];
    envp[k] = NULL;
    return envp;
}

/*
 * In the forked child: wire stdin/stdout/stderr, drop to the cluster's
 * account when c->setid, exec.  Only async-signal-safe calls from here on
 * (the process may have had other threads).  Exit 126: could not switch
 * user; 127: could not exec.
 */
static void child_exec(const pge *c, char *const argv[], char **envp, int in, int out,
                       const char *cwd)
{
    if (in >= 0)
        dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    if (c && c->setid &&
        (setgroups((size_t)c->ngroups, c->groups) != 0 || setgid(c->gid) != 0 ||
         setuid(c->uid) != 0))
        _exit(126);
    if (cwd && chdir(cwd) != 0) {
        /* harmless: the tools only need the absolute paths they are given */
    }
    execve(argv[0], argv, envp);
    _exit(127);
}

/* Runs argv (argv[0] absolute) as the cluster's account in HOME with output
 * on fd out.  Returns the exit status, 128+N when killed by signal N, or -1
 * with e set when no child could be made. */
static int run_as(const pge *c, char *const argv[], int out, rp_err *e)
{
    char **envp = child_env();
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC), status = 0;
    pid_t pid = fork(), w;

    if (pid == 0)
        child_exec(c, argv, envp, devnull, out, c->home);
    if (devnull >= 0)
        close(devnull);
    free(envp);
    if (pid < 0)
        return rp_err_set(e, RP_EINTERNAL, "could not fork: %s", strerror(errno)), -1;
    while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
        ;
    if (w < 0)
        return rp_err_set(e, RP_EINTERNAL, "could not wait for \"%s\": %s", argv[0],
                          strerror(errno)), -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The last PGE_TAIL bytes of path from offset from on, starting at a line
 * boundary, without trailing blank lines ("" when nothing). */
static void file_tail(const char *path, off_t from, char *out, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    off_t end;
    ssize_t n = 0;
    char *s;

    out[0] = '\0';
    if (fd < 0)
        return;
    end = lseek(fd, 0, SEEK_END);
    if (end > from + (off_t)(cap - 1))
        from = end - (off_t)(cap - 1);
    if (end > from && lseek(fd, from, SEEK_SET) == from)
        n = read(fd, out, cap - 1);
    close(fd);
    out[n > 0 ? n : 0] = '\0';
    if (n == (ssize_t)(cap - 1) && (s = strchr(out, '\n')) != NULL)
        memmove(out, s + 1, strlen(s + 1) + 1);
    for (n = (ssize_t)strlen(out); n > 0 && strchr("\r\n \t", out[n - 1]); n--)
        out[n - 1] = '\0';
}

/* Opens HOME/pgembed.log for appending (owned by the account, so that a
 * later run as that account can append too) and writes a header naming the
 * command.  Returns the fd, -1 with e set. */
static int plog_open(const pge *c, char *const argv[], off_t *start, rp_err *e)
{
    int fd = open(c->plog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    sb_t sb = {0};
    char when[32];
    time_t now = time(NULL);
    struct tm tm;

    if (fd < 0)
        return rp_err_set(e, RP_EDB, "could not open \"%s\": %s", c->plog,
                          strerror(errno)), -1;
    if (c->setid && fchown(fd, c->uid, c->gid) != 0) {
        /* only tidiness: root can still write it */
    }
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime_r(&now, &tm));
    sb_printf(&sb, "== %s as %s:", when, c->user);
    for (int i = 0; argv[i]; i++)
        sb_printf(&sb, " %s", argv[i]);
    sb_putc(&sb, '\n');
    if (write(fd, sb.p, sb.len) < 0) {
        /* a log we cannot write is not worth failing the command for */
    }
    sb_free(&sb);
    *start = lseek(fd, 0, SEEK_END);
    return fd;
}

/* Runs one of the server tools with its output appended to pgembed.log.
 * On failure sets e ("could not <what>") with the tool's output as detail
 * and returns RP_EDB. */
static int run_tool(const pge *c, char *const argv[], const char *what, rp_err *e)
{
    off_t start = 0;
    int fd = plog_open(c, argv, &start, e), st;
    char tail[PGE_TAIL];

    if (fd < 0)
        return e ? e->code : RP_EDB;
    st = run_as(c, argv, fd, e);
    close(fd);
    if (st == 0)
        return RP_OK;
    if (st < 0)
        return e ? e->code : RP_EINTERNAL;
    file_tail(c->plog, start, tail, sizeof tail);
    if (st == 126)
        rp_err_set(e, RP_EDB, "could not %s: cannot switch to account \"%s\"", what, c->user);
    else if (st == 127 && !tail[0])
        rp_err_set(e, RP_EDB, "could not %s: cannot execute \"%s\"", what, argv[0]);
    else
        rp_err_set(e, RP_EDB, "could not %s (%s exited with status %d)", what, argv[0], st);
    if (tail[0])
        rp_err_detail(e, "%s", tail);
    rp_err_hint(e, "see \"%s\" and \"%s\"", c->plog, c->slog);
    return RP_EDB;
}

/* ------------------------------------------------------------------ */
/* The cluster                                                         */
/* ------------------------------------------------------------------ */

/* 1 when HOME/data holds a cluster, 0 when there is none, -1 (e set) when
 * we cannot tell (typically another account's 0700 folder). */
static int cluster_state(const pge *c, rp_err *e)
{
    char *ver = xasprintf("%s/PG_VERSION", c->data);
    struct stat st;
    int r = stat(ver, &st), err = errno;

    free(ver);
    if (r == 0)
        return 1;
    if (err == ENOENT || err == ENOTDIR)
        return 0;
    rp_err_set(e, RP_EDB, "cannot look into the embedded cluster at \"%s\": %s", c->home,
               strerror(err));
    if (err == EACCES) {
        struct stat hs;
        if (stat(c->home, &hs) == 0)
            rp_err_detail(e, "the folder belongs to account \"%s\"", uid_name(hs.st_uid));
        rp_err_hint(e, "run riskpipe as that account or as root, or set RISKPIPE_HOME "
                    "to another folder");
    }
    return -1;
}

/* initdb on first use.  Locale C: byte-order sorting, identical on every
 * machine, and no dependency on installed locales; UTF8 for the data. */
static int cluster_create(pge *c, rp_err *e)
{
    struct stat st;
    char *initdb;
    int rc, state = cluster_state(c, e);

    if (state < 0)
        return e ? e->code : RP_EDB;
    if (state == 1)
        return RP_OK;
    if (stat(c->data, &st) == 0 && !dir_is_empty(c->data)) {
        rp_err_set(e, RP_EDB, "\"%s\" exists but is not a PostgreSQL data directory", c->data);
        rp_err_hint(e, "move it away (a failed initdb leaves it) and run riskpipe db start again");
        return RP_EDB;
    }
    if ((rc = pge_bindir(c, e)))
        return rc;
    initdb = xasprintf("%s/initdb", c->bindir);
    {
        char *argv[] = {initdb, "-D", c->data, "--auth=trust", "-E", "UTF8",
                        "--locale=C", NULL};
        rc = run_tool(c, argv, "create the embedded cluster (initdb)", e);
    }
    free(initdb);
    return rc;
}

/* Appends a PostgreSQL configuration string literal: '...' with ''. */
static void conf_quote(sb_t *sb, const char *s)
{
    sb_putc(sb, '\'');
    for (; *s; s++) {
        if (*s == '\'')
            sb_putc(sb, '\'');
        sb_putc(sb, *s);
    }
    sb_putc(sb, '\'');
}

/* The contents of riskpipe.conf.  The numbers suit an analytics workload
 * (a few large scans, joins and sorts at a time) on a 2-core machine. */
static char *conf_text(const pge *c)
{
    sb_t sb = {0}, dirs = {0};
    const char *s;

    /* unix_socket_directories is a list: double-quote the element so that
     * commas and spaces in HOME stay part of the name. */
    sb_putc(&dirs, '"');
    for (s = c->home; *s; s++)
        sb_putc(&dirs, *s);
    sb_putc(&dirs, '"');
    sb_append(&sb, "# Written by riskpipe before each start; edits are lost.\n"
              "# Override with ALTER SYSTEM or RISKPIPE_PG_OPTS.\n"
              "listen_addresses = ''                 # unix socket only, no TCP\n"
              "unix_socket_directories = ");
    conf_quote(&sb, sb_str(&dirs));
    sb_append(&sb, "\n"
              "unix_socket_permissions = 0700        # only the owner (and root)\n"
              "port = " PGE_PORT "\n"
              "shared_buffers = 256MB\n"
              "work_mem = 64MB                       # sorts and hashes of feature queries\n"
              "maintenance_work_mem = 256MB          # index builds after bulk loads\n"
              "effective_cache_size = 1GB\n"
              "max_parallel_workers_per_gather = 2   # two cores\n"
              "random_page_cost = 1.1\n"
              "max_wal_size = 2GB                    # fewer checkpoints during COPY\n"
              "# No replication: COPY into a table created in the same transaction\n"
              "# then skips WAL entirely.\n"
              "wal_level = minimal\n"
              "max_wal_senders = 0\n");
    sb_free(&dirs);
    return sb_steal(&sb);
}

/* Writes path atomically (temporary file, fsync, rename), readable by the
 * server's account. */
static int write_atomic(const pge *c, const char *path, const char *text, rp_err *e)
{
    char *tmp = xasprintf("%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), ok;
    size_t n = strlen(text);

    ok = fd >= 0 && write(fd, text, n) == (ssize_t)n &&
         (!c->setid || fchown(fd, c->uid, c->gid) == 0) && fsync(fd) == 0;
    if (fd >= 0 && close(fd) != 0)
        ok = 0;
    if (ok && rename(tmp, path) != 0)
        ok = 0;
    if (!ok) {
        rp_err_set(e, RP_EDB, "could not write \"%s\": %s", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return ok ? RP_OK : RP_EDB;
}

/* Makes sure postgresql.conf includes riskpipe.conf (appended once, so the
 * include comes last and wins), then rewrites riskpipe.conf. */
static int conf_write(const pge *c, rp_err *e)
{
    char *main_conf = xasprintf("%s/postgresql.conf", c->data);
    char *own = xasprintf("%s/riskpipe.conf", c->data), *text, line[512];
    FILE *f = fopen(main_conf, "r+");
    int found = 0, rc = RP_OK;

    if (!f) {
        rc = rp_err_set(e, RP_EDB, "could not open \"%s\": %s", main_conf, strerror(errno));
        goto done;
    }
    while (!found && fgets(line, sizeof line, f))
        found = strncmp(line, PGE_CONF_LINE, strlen(PGE_CONF_LINE)) == 0;
    if (!found && (fseek(f, 0, SEEK_END) != 0 ||
                   fprintf(f, "\n%s\n", PGE_CONF_LINE) < 0))
        rc = rp_err_set(e, RP_EDB, "could not append to \"%s\": %s", main_conf,
                        strerror(errno));
    if (fclose(f) != 0 && rc == RP_OK)
        rc = rp_err_set(e, RP_EDB, "could not write \"%s\": %s", main_conf, strerror(errno));
    if (rc == RP_OK) {
        text = conf_text(c);
        rc = write_atomic(c, own, text, e);
        free(text);
    }
done:
    free(main_conf);
    free(own);
    return rc;
}

/* The postmaster's PID from data/postmaster.pid, 0 when there is none. */
static long pid_read(const pge *c)
{
    char *path = xasprintf("%s/postmaster.pid", c->data), buf[32];
    FILE *f = fopen(path, "r");
    long pid = 0;

    free(path);
    if (!f)
        return 0;
    if (fgets(buf, sizeof buf, f))
        pid = strtol(buf, NULL, 10);
    fclose(f);
    return pid > 0 ? pid : 0;
}

/*
 * Whether pid is a live PostgreSQL server process.  A zombie counts as dead:
 * a postmaster killed with -9 stays a zombie until its new parent (often a
 * container's init, which may be slow to reap) collects it, and kill(pid,
 * 0) -- PostgreSQL's own test -- still succeeds on it.  Unknown (no /proc)
 * counts as running: better to refuse a start than to remove a live lock.
 */
static int pid_running(long pid)
{
    char path[64], buf[512], *paren;
    size_t n;
    FILE *f;

    if (pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno != EPERM))
        return 0;
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    if (!(f = fopen(path, "r")))
        return 1;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* "pid (comm) state ...": comm may hold spaces and parentheses */
    if (!(paren = strrchr(buf, ')')) || paren[1] != ' ')
        return 1;
    if (paren[2] == 'Z' || paren[2] == 'X')
        return 0;
    return !strncmp(buf + strcspn(buf, "(") + 1, "postgres", 8) ||
           !strncmp(buf + strcspn(buf, "(") + 1, "postmaster", 10);
}

/*
 * A server killed hard leaves postmaster.pid and HOME/.s.PGSQL.5432.lock.
 * PostgreSQL ignores them when their PID is gone, but refuses when the PID
 * is a zombie or was reused by an unrelated process (common after a
 * container restart, where PIDs start over).  We remove them then.
 */
static void pid_clear_stale(const pge *c)
{
    long pid = pid_read(c);
    char *pidfile, *socklock;

    if (!pid || pid_running(pid))
        return;
    pidfile = xasprintf("%s/postmaster.pid", c->data);
    socklock = xasprintf("%s/%s.lock", c->home, PGE_SOCKET);
    unlink(pidfile);
    unlink(socklock);
    free(pidfile);
    free(socklock);
}

/* PQping over the socket; dbname does not matter to a ping. */
static PGPing pge_ping(const pge *c)
{
    const char *kw[] = {"host", "port", "dbname", "user", "connect_timeout", NULL};
    const char *val[] = {c->home, PGE_PORT, "postgres", c->user, "10", NULL};

    return PQpingParams(kw, val, 0);
}

/* While the server is starting up or shutting down it rejects connections;
 * wait for it to settle (up to PGE_WAIT_SECS). */
static PGPing ping_settled(const pge *c)
{
    PGPing p = pge_ping(c);
    struct timespec ts = {0, 200 * 1000 * 1000};

    for (int i = 0; p == PQPING_REJECT && i < PGE_WAIT_SECS * 5; i++) {
        nanosleep(&ts, NULL);
        p = pge_ping(c);
    }
    return p;
}

/* pg_ctl start, waiting until the server accepts connections.  On failure
 * the detail is the end of server.log, where the server says why. */
static int server_start(pge *c, rp_err *e)
{
    const char *opts = getenv("RISKPIPE_PG_OPTS");
    char *pg_ctl, *argv[12], tail[PGE_TAIL];
    struct stat st;
    off_t start = stat(c->slog, &st) == 0 ? st.st_size : 0;
    int rc, n = 0;

    if ((rc = pge_bindir(c, e)) || (rc = conf_write(c, e)))
        return rc;
    pid_clear_stale(c);
    pg_ctl = xasprintf("%s/pg_ctl", c->bindir);
    argv[n++] = pg_ctl;
    argv[n++] = "-D";
    argv[n++] = c->data;
    argv[n++] = "-l";
    argv[n++] = c->slog;
    argv[n++] = "-w";
    argv[n++] = "-t";
    argv[n++] = PGE_WAIT_STR;
    if (opts && *opts) {
        argv[n++] = "-o";
        argv[n++] = (char *)opts;
    }
    argv[n++] = "start";
    argv[n] = NULL;
    rc = run_tool(c, argv, "start the embedded server", e);
    free(pg_ctl);
    if (rc == RP_EDB) {
        file_tail(c->slog, start, tail, sizeof tail);
        if (tail[0])
            rp_err_detail(e, "%s", tail);
    }
    return rc;
}

/* A libpq connection to the maintenance database, for CREATE DATABASE. */
static PGconn *pge_connect(const pge *c, rp_err *e)
{
    const char *kw[] = {"host", "port", "dbname", "user", "connect_timeout",
                        "fallback_application_name", NULL};
    const char *val[] = {c->home, PGE_PORT, "postgres", c->user, "10", "riskpipe", NULL};
    PGconn *conn = PQconnectdbParams(kw, val, 0);

    if (conn && PQstatus(conn) == CONNECTION_OK)
        return conn;
    rp_err_set(e, RP_EDB, "could not connect to the embedded server at \"%s\"", c->home);
    rp_err_detail(e, "%s", conn ? PQerrorMessage(conn) : "out of memory");
    PQfinish(conn);
    return NULL;
}

/* Creates the database "riskpipe" when missing.  Two riskpipe processes may
 * race here; "already exists" (42P04) from the loser is success. */
static int database_ensure(const pge *c, rp_err *e)
{
    PGconn *conn = pge_connect(c, e);
    PGresult *res = NULL;
    int rc = RP_OK;
    const char *state;

    if (!conn)
        return RP_EDB;
    res = PQexec(conn, "SELECT 1 FROM pg_database WHERE datname = '" PGE_DBNAME "'");
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        goto done;
    PQclear(res);
    res = PQexec(conn, "CREATE DATABASE " PGE_DBNAME);
    if (PQresultStatus(res) == PGRES_COMMAND_OK)
        goto done;
    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (state && !strcmp(state, "42P04"))
        goto done;
    rc = rp_err_set(e, RP_EDB, "could not create database \"%s\"", PGE_DBNAME);
    rp_err_detail(e, "%s", PQerrorMessage(conn));
    if (state && e)
        snprintf(e->sqlstate, sizeof e->sqlstate, "%s", state);
done:
    PQclear(res);
    PQfinish(conn);
    return rc;
}

/* An advisory lock on HOME/pgembed.lock so that two riskpipe processes do
 * not run initdb or pg_ctl on the same cluster at once.  Released when the
 * fd is closed.  Returns the fd, or -1 with e set. */
static int home_lock(const pge *c, rp_err *e)
{
    int fd = open(c->lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    struct flock fl;

    if (fd < 0)
        return rp_err_set(e, RP_EDB, "could not open \"%s\": %s", c->lock,
                          strerror(errno)), -1;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    while (fcntl(fd, F_SETLKW, &fl) != 0) {
        if (errno != EINTR) {
            rp_err_set(e, RP_EDB, "could not lock \"%s\": %s", c->lock, strerror(errno));
            close(fd);
            return -1;
        }
    }
    return fd;
}

/* A non-root caller can only run a cluster it owns; say so plainly instead
 * of letting pg_ctl fail on permissions. */
static int check_data_owner(const pge *c, rp_err *e)
{
    struct stat st;

    if (c->setid || stat(c->data, &st) != 0 || st.st_uid == c->uid)
        return RP_OK;
    rp_err_set(e, RP_EDB, "the embedded cluster at \"%s\" belongs to account \"%s\"",
               c->home, uid_name(st.st_uid));
    rp_err_hint(e, "run riskpipe as that account or as root, or set RISKPIPE_HOME to "
                "another folder");
    return RP_EDB;
}

static int start_locked(pge *c, int *started, rp_err *e)
{
    PGPing p = ping_settled(c);
    int rc;

    if (p != PQPING_OK) {
        if ((rc = check_data_owner(c, e)) || (rc = cluster_create(c, e)) ||
            (rc = server_start(c, e)))
            return rc;
        if (started)
            *started = 1;
    }
    return database_ensure(c, e);
}

int pgembed_start(const char *home, int *started, rp_err *e)
{
    pge c;
    int rc, fd = -1;

    if (started)
        *started = 0;
    if ((rc = pge_open(&c, home, e)) == RP_OK && (rc = home_prepare(&c, e)) == RP_OK) {
        fd = home_lock(&c, e);
        rc = fd < 0 ? RP_EDB : start_locked(&c, started, e);
    }
    if (fd >= 0)
        close(fd);
    pge_free(&c);
    return rc;
}

static int stop_cluster(pge *c, rp_err *e)
{
    char *pg_ctl, *argv[10];
    long pid;
    int rc, fd;

    if ((rc = cluster_state(c, e)) <= 0)
        return rc < 0 ? (e ? e->code : RP_EDB) : RP_OK;
    if ((fd = home_lock(c, e)) < 0)
        return RP_EDB;
    pid = pid_read(c);
    if (!pid_running(pid)) {
        close(fd);
        return RP_OK;   /* not running; a stale pid file is start's business */
    }
    if ((rc = pge_bindir(c, e)) == RP_OK) {
        pg_ctl = xasprintf("%s/pg_ctl", c->bindir);
        argv[0] = pg_ctl;
        argv[1] = "-D";
        argv[2] = c->data;
        argv[3] = "-m";
        argv[4] = "fast";
        argv[5] = "-w";
        argv[6] = "-t";
        argv[7] = PGE_WAIT_STR;
        argv[8] = "stop";
        argv[9] = NULL;
        rc = run_tool(c, argv, "stop the embedded server", e);
        free(pg_ctl);
    }
    close(fd);
    return rc;
}

int pgembed_stop(const char *home, rp_err *e)
{
    pge c;
    int rc = pge_open(&c, home, e);

    if (rc == RP_OK)
        rc = stop_cluster(&c, e);
    pge_free(&c);
    return rc;
}

/* Why the server does not answer, in the words of the header. */
static int status_of(pge *c, rp_err *e)
{
    int state = cluster_state(c, e);
    PGPing p;
    long pid;

    if (state < 0)
        return e ? e->code : RP_EDB;
    if (state == 0) {
        rp_err_set(e, RP_EDB, "no cluster at \"%s\"", c->home);
        rp_err_hint(e, "run riskpipe db start");
        return RP_EDB;
    }
    p = pge_ping(c);
    if (p == PQPING_OK)
        return RP_OK;
    if (p == PQPING_NO_ATTEMPT)
        return rp_err_set(e, RP_EINTERNAL, "bad connection parameters for \"%s\"", c->home);
    pid = pid_read(c);
    if (p == PQPING_NO_RESPONSE && !pid_running(pid)) {
        rp_err_set(e, RP_EDB, "the embedded server at \"%s\" is not running", c->home);
        rp_err_hint(e, "run riskpipe db start");
        return RP_EDB;
    }
    rp_err_set(e, RP_EDB, "the embedded server at \"%s\" is not answering", c->home);
    if (p == PQPING_REJECT)
        rp_err_detail(e, "it is starting up or shutting down");
    else
        rp_err_detail(e, "process %ld holds the data directory but accepts no connections",
                      pid);
    rp_err_hint(e, "see \"%s\"", c->slog);
    return RP_EDB;
}

int pgembed_status(const char *home, rp_err *e)
{
    pge c;
    int rc = pge_open(&c, home, e);

    if (rc == RP_OK)
        rc = status_of(&c, e);
    pge_free(&c);
    return rc;
}

/* Appends key=value to a conninfo, quoting the value when libpq would
 * otherwise split or unescape it: '...' with \' and \\. */
static void conninfo_add(sb_t *sb, const char *key, const char *val)
{
    if (sb->len)
        sb_putc(sb, ' ');
    sb_printf(sb, "%s=", key);
    if (*val && !strpbrk(val, " \t\n\r\f\v'\\")) {
        sb_append(sb, val);
        return;
    }
    sb_putc(sb, '\'');
    for (; *val; val++) {
        if (*val == '\'' || *val == '\\')
            sb_putc(sb, '\\');
        sb_putc(sb, *val);
    }
    sb_putc(sb, '\'');
}

char *pgembed_conninfo(const char *home)
{
    pge c;
    sb_t sb = {0};

    pge_init(&c, home);
    conninfo_add(&sb, "host", c.home);
    conninfo_add(&sb, "port", PGE_PORT);
    conninfo_add(&sb, "dbname", PGE_DBNAME);
    conninfo_add(&sb, "user", c.user ? c.user : "postgres");
    pge_free(&c);
    return sb_steal(&sb);
}
