file(REMOVE_RECURSE
  "CMakeFiles/sts-collector.dir/collector/main.c.o"
  "CMakeFiles/sts-collector.dir/collector/main.c.o.d"
  "sts-collector"
  "sts-collector.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/sts-collector.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
