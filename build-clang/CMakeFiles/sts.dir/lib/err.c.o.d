CMakeFiles/sts.dir/lib/err.c.o: /work/main/lib/err.c \
  /work/main/include/sts/err.h
