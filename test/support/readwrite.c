/* The multiubuntu image's /readwrite, written from its documented behaviour: `-r FILE` reads
 * one byte of FILE and prints it, `-w FILE` appends one byte; a file that cannot be opened
 * prints "Error! (reason)" and exits 1. Built static in the guest by the KubeArmor steps suite. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc != 3 || (strcmp(argv[1], "-r") && strcmp(argv[1], "-w"))) {
		fprintf(stderr, "usage: readwrite -r|-w FILE\n");
		return 2;
	}
	int reading = !strcmp(argv[1], "-r");
	FILE *f = fopen(argv[2], reading ? "r" : "a");
	if (!f) {
		printf("Error! (%s)\n", strerror(errno));
		return 1;
	}
	if (reading) {
		int c = fgetc(f);
		printf("%c\n", c == EOF ? ' ' : c);
	} else if (fputc('b', f) == EOF || fflush(f) != 0) {
		printf("Error! (%s)\n", strerror(errno));
		return 1;
	}
	return fclose(f) == 0 ? 0 : 1;
}
