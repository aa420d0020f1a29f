/* replay.c - run a fuzz target over files (the seed corpus) without libFuzzer, for meson test. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
run_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	unsigned char *buf;
	long len;

	if (fp == NULL || fseek(fp, 0, SEEK_END) < 0 || (len = ftell(fp)) < 0) {
		perror(path);
		return -1;
	}
	rewind(fp);
	buf = malloc((size_t)len + 1);
	if (buf == NULL || fread(buf, 1, (size_t)len, fp) != (size_t)len) {
		perror(path);
		return -1;
	}
	fclose(fp);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	return 0;
}

int
main(int argc, char **argv)
{
	int files = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			DIR *d = opendir(argv[i]);
			struct dirent *de;
			char path[4096];
			while (d != NULL && (de = readdir(d)) != NULL) {
				if (de->d_name[0] == '.')
					continue;
				if ((size_t)snprintf(path, sizeof path, "%s/%s", argv[i], de->d_name) >= sizeof path)
					return 1;
				if (run_file(path) < 0)
					return 1;
				files++;
			}
			if (d != NULL)
				closedir(d);
		} else if (run_file(argv[i]) < 0) {
			return 1;
		} else {
			files++;
		}
	}
	printf("replayed %d input(s)\n", files);
	return files > 0 ? 0 : 1;
}
