
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/collector/config.c" "CMakeFiles/sts_collector.dir/collector/config.c.o" "gcc" "CMakeFiles/sts_collector.dir/collector/config.c.o.d"
  "/work/main/collector/http.c" "CMakeFiles/sts_collector.dir/collector/http.c.o" "gcc" "CMakeFiles/sts_collector.dir/collector/http.c.o.d"
  "/work/main/collector/ingest.c" "CMakeFiles/sts_collector.dir/collector/ingest.c.o" "gcc" "CMakeFiles/sts_collector.dir/collector/ingest.c.o.d"
  "/work/main/collector/stats.c" "CMakeFiles/sts_collector.dir/collector/stats.c.o" "gcc" "CMakeFiles/sts_collector.dir/collector/stats.c.o.d"
  "/work/main/collector/store/store.c" "CMakeFiles/sts_collector.dir/collector/store/store.c.o" "gcc" "CMakeFiles/sts_collector.dir/collector/store/store.c.o.d"
  "/work/main/collector/store/store_sqlite.c" "CMakeFiles/sts_collector.dir/collector/store/store_sqlite.c.o" "gcc" "CMakeFiles/sts_collector.dir/collector/store/store_sqlite.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  "/work/main/build/CMakeFiles/sts.dir/DependInfo.cmake"
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
