
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/lib/country.c" "CMakeFiles/sts.dir/lib/country.c.o" "gcc" "CMakeFiles/sts.dir/lib/country.c.o.d"
  "/work/main/lib/date.c" "CMakeFiles/sts.dir/lib/date.c.o" "gcc" "CMakeFiles/sts.dir/lib/date.c.o.d"
  "/work/main/lib/err.c" "CMakeFiles/sts.dir/lib/err.c.o" "gcc" "CMakeFiles/sts.dir/lib/err.c.o.d"
  "/work/main/lib/imei.c" "CMakeFiles/sts.dir/lib/imei.c.o" "gcc" "CMakeFiles/sts.dir/lib/imei.c.o.d"
  "/work/main/lib/pseudonym.c" "CMakeFiles/sts.dir/lib/pseudonym.c.o" "gcc" "CMakeFiles/sts.dir/lib/pseudonym.c.o.d"
  "/work/main/lib/report.c" "CMakeFiles/sts.dir/lib/report.c.o" "gcc" "CMakeFiles/sts.dir/lib/report.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
