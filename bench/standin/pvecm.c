/* A compiled stand-in for pvecm, for bench/run: `pvecm SUB` copies
 * $PVECM_REPLAY/SUB.stdout to stdout and SUB.stderr to stderr and exits 0,
 * like tests/standins/pvecm but without starting a shell, so that its own
 * cost is small next to the module's. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void copy(const char *dir, const char *sub, const char *ext, int to) {
    char path[4096], buf[65536];
    snprintf(path, sizeof path, "%s/%s.%s", dir, sub, ext);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        if (write(to, buf, (size_t)n) != n) break;
    }
    close(fd);
}

int main(int argc, char **argv) {
    const char *dir = getenv("PVECM_REPLAY");
    if (!dir || argc < 2) return 2;
    copy(dir, argv[1], "stdout", 1);
    copy(dir, argv[1], "stderr", 2);
    return 0;
}
