file(REMOVE_RECURSE
  "CMakeFiles/sts.dir/lib/country.c.o"
  "CMakeFiles/sts.dir/lib/country.c.o.d"
  "CMakeFiles/sts.dir/lib/date.c.o"
  "CMakeFiles/sts.dir/lib/date.c.o.d"
  "CMakeFiles/sts.dir/lib/err.c.o"
  "CMakeFiles/sts.dir/lib/err.c.o.d"
  "CMakeFiles/sts.dir/lib/imei.c.o"
  "CMakeFiles/sts.dir/lib/imei.c.o.d"
  "CMakeFiles/sts.dir/lib/pseudonym.c.o"
  "CMakeFiles/sts.dir/lib/pseudonym.c.o.d"
  "CMakeFiles/sts.dir/lib/report.c.o"
  "CMakeFiles/sts.dir/lib/report.c.o.d"
  "libsts.a"
  "libsts.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/sts.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
