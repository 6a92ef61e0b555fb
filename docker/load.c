/* The target container's workload under `cgbench compare --load`, so that a limit change has
 * something to be felt by. Linked statically (glibc's libc.a, pthreads included) and copied into
 * the image from scratch, like idle.
 *
 *   load cpu N        N threads spinning in user space: N at least the higher CPU limit keeps
 *                     the group at its quota, so every decrease throttles it and every increase
 *                     finds it throttled most of the time.
 *   load memory BYTES a file of BYTES, mapped and read page by page, over and over. Page cache,
 *                     not anonymous memory: with no swap, a lower limit can only take effect by
 *                     reclaiming clean file pages. Anonymous pages would make v1 refuse every
 *                     decrease (EBUSY) and v2 OOM-kill the workload, and end the run. */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static void *spin(void *unused)
{
	volatile unsigned long n = 0;
	(void)unused;
	for (;;)
		n++;
	return NULL;
}

static int cpu(long threads)
{
	pthread_t t;
	for (long i = 1; i < threads; i++)
		if (pthread_create(&t, NULL, spin, NULL) != 0)
			return 1;
	spin(NULL);
	return 0;
}

static int memory(size_t bytes)
{
	static char block[1 << 20];
	const char *path = "/load.data";
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return 1;
	memset(block, 0x5a, sizeof block);
	for (size_t done = 0; done < bytes; done += sizeof block)
		if (write(fd, block, sizeof block) != (ssize_t)sizeof block)
			return 1;
	/* Clean pages are what reclaim can drop at once; dirty ones would wait for writeback. */
	fsync(fd);
	volatile const char *map = mmap(NULL, bytes, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return 1;
	const struct timespec pause = { 0, 50 * 1000 * 1000 };
	long page = sysconf(_SC_PAGESIZE);
	for (;;) {
		for (size_t at = 0; at < bytes; at += page)
			(void)map[at];
		nanosleep(&pause, NULL);
	}
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "cpu") == 0)
		return cpu(atol(argv[2]));
	if (argc == 3 && strcmp(argv[1], "memory") == 0)
		return memory(strtoull(argv[2], NULL, 10));
	return 2;
}
