CMakeFiles/sts.dir/lib/err.c.o: /work/main/lib/err.c \
 /usr/include/stdc-predef.h /work/main/include/sts/err.h
