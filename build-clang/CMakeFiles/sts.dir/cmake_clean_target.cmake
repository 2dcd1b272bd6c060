file(REMOVE_RECURSE
  "libsts.a"
)
