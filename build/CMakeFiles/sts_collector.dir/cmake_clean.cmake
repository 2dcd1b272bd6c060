file(REMOVE_RECURSE
  "CMakeFiles/sts_collector.dir/collector/config.c.o"
  "CMakeFiles/sts_collector.dir/collector/config.c.o.d"
  "CMakeFiles/sts_collector.dir/collector/http.c.o"
  "CMakeFiles/sts_collector.dir/collector/http.c.o.d"
  "CMakeFiles/sts_collector.dir/collector/ingest.c.o"
  "CMakeFiles/sts_collector.dir/collector/ingest.c.o.d"
  "CMakeFiles/sts_collector.dir/collector/stats.c.o"
  "CMakeFiles/sts_collector.dir/collector/stats.c.o.d"
  "CMakeFiles/sts_collector.dir/collector/store/store.c.o"
  "CMakeFiles/sts_collector.dir/collector/store/store.c.o.d"
  "CMakeFiles/sts_collector.dir/collector/store/store_sqlite.c.o"
  "CMakeFiles/sts_collector.dir/collector/store/store_sqlite.c.o.d"
  "libsts_collector.a"
  "libsts_collector.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/sts_collector.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
