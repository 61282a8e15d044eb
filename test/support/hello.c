/* The multiubuntu image's /home/user1/hello: a program that prints a greeting and exits 0.
 * Built static in the guest by the KubeArmor steps suite. */
#include <stdio.h>

int main(void)
{
	puts("hello from /home/user1/hello");
	return 0;
}
