{
  "targets": [
    {
      "target_name": "fsx",
      "sources": ["native/fsx.c"],
      "cflags": ["-O2", "-Wall"]
    }
  ]
}
