file(REMOVE_RECURSE
  "libsts_collector.a"
)
