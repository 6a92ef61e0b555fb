/* The target container's only process: it sleeps until killed and uses no memory or CPU, so the
 * limits cgbench changes never affect it. No libc, so it links statically anywhere. */
void _start(void)
{
	for (;;)
		__asm__ volatile("syscall" : : "a"(34 /* __NR_pause, x86_64 */) : "rcx", "r11", "memory");
}
