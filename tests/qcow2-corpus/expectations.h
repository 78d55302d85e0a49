/* Expectations of the cases whose line is not written in the table:
 * reviewed output of `qcow2-corpus print`. */
static const Expect layout_expectations[] = {
    { "snapshot-ok",
      "read=ok check=6/0/0 write=EIO | ERROR cluster 3 refcount=1 "
      "reference=2" },
    { "snapshots-many",
      "read=ok check=71/0/0 write=EIO | ERROR: overflow cluster "
      "offset=0x30000" },
    { "l1e-unaligned",
      "read=EIO check=1/4/0 write=EIO | qcow2: Image is corrupt: "
      "L2 table offset 0x40200 unaligned (L1 index: 0); further "
      "non-fatal corruption events will be suppressed" },
    { "l1e-reserved",
      "read=EIO check=1/4/0 write=EIO | qcow2: Image is corrupt: "
      "L1 entry 0x8100000000040000 has reserved bits set (L1 "
      "index: 0); further non-fatal corruption events will be "
      "suppressed" },
    { "l1e-eof",
      "read=EIO check=1/4/0 write=EIO | qcow2: Image is corrupt: "
      "L2 table offset 0x1000000000 is beyond the end of the image "
      "file (L1 index: 0); further non-fatal corruption events "
      "will be suppressed" },
    { "l1e-is-rt",
      "read=ok check=4/4/0 write=EIO | ERROR refcount block 0 "
      "refcount=2" },
    { "l1e-is-l1",
      "read=ok check=1/4/0 write=EIO | ERROR cluster 3 refcount=1 "
      "reference=3" },
    { "l1e-is-rb",
      "read=ok check=4/4/0 write=EIO | ERROR: counting reference "
      "for region exceeding the end of the file by one cluster or "
      "more: offset 0x1000100010000 size 0x10000" },
    { "l2e-unaligned",
      "read=EIO check=2/0/0 write=EIO | qcow2: Image is corrupt: "
      "Cluster allocation offset 0x50200 unaligned (L2 offset: "
      "0x40000, L2 index: 0); further non-fatal corruption events "
      "will be suppressed" },
    { "l2e-reserved",
      "read=EIO check=1/1/0 write=EIO | qcow2: Image is corrupt: "
      "L2 entry 0x8100000000050000 has reserved bits set (L2 "
      "offset: 0x40000, L2 index: 0); further non-fatal corruption "
      "events will be suppressed" },
    { "l2e-eof",
      "read=ok check=2/1/0 write=EIO | ERROR: counting reference "
      "for region exceeding the end of the file by one cluster or "
      "more: offset 0x100000000 size 0x10000" },
    { "l2e-is-l1",
      "read=ok check=1/1/0 write=EIO | ERROR cluster 3 refcount=1 "
      "reference=2" },
    { "l2e-is-l2",
      "read=ok check=1/1/0 write=EIO | ERROR cluster 4 refcount=1 "
      "reference=2" },
    { "l2e-is-rb",
      "read=ok check=2/1/0 write=EIO | ERROR refcount block 0 "
      "refcount=2" },
    { "l2e-zero-alloc-unaligned",
      "read=EIO check=3/0/0 write=EIO | qcow2: Image is corrupt: "
      "Cluster allocation offset 0x50200 unaligned (L2 offset: "
      "0x40000, L2 index: 0x20); further non-fatal corruption "
      "events will be suppressed" },
    { "comp-in-header",
      "read=EIO check=1/1/0 write=EIO | qcow2: Image is corrupt: "
      "Compressed cluster offset 0x100 out of range (L2 offset: "
      "0x40000, L2 index: 0x10); further non-fatal corruption "
      "events will be suppressed" },
    { "comp-eof",
      "read=EIO check=1/1/0 write=EIO | ERROR: counting reference "
      "for region exceeding the end of the file by one cluster or "
      "more: offset 0x10000000000 size 0x800" },
    { "comp-garbage",
      "read=EIO check=1/1/0 write=ok | ERROR cluster 5 refcount=1 "
      "reference=2" },
    { "comp-max-sectors",
      "read=ok check=1/0/0 write=ok | ERROR cluster 7 refcount=1 "
      "reference=2" },
    { "comp-copied",
      "read=EIO check=1/0/0 write=EIO | qcow2: Image is corrupt: "
      "Compressed cluster entry 0xc000000000060000 has the copied "
      "flag set (L2 offset: 0x40000, L2 index: 0x10); further "
      "non-fatal corruption events will be suppressed" },
    { "rte-unaligned",
      "read=ok check=1/0/8 write=EIO | ERROR refcount block 0 is "
      "not cluster aligned; refcount table entry corrupted" },
    { "rte-eof",
      "read=ok check=11/0/0 write=EIO | ERROR refcount block 0 is "
      "outside image" },
    { "rte-is-l1",
      "read=ok check=10/2/0 write=EIO | ERROR refcount block 0 "
      "refcount=2" },
    { "rb-zero",
      "read=ok check=11/0/0 write=EIO | ERROR cluster 0 refcount=0 "
      "reference=1" },
    { "rb-high",
      "read=ok check=1/1/0 write=ok | Leaked cluster 4 "
      "refcount=65535 reference=1" },
    { "truncated-header",
      "read=ok check=3/0/0 write=EIO | ERROR: counting reference "
      "for region exceeding the end of the file by one cluster or "
      "more: offset 0x30000 size 0x8" },
    { "truncated-data",
      "read=ok check=1/0/0 write=ok | ERROR: counting reference for "
      "region exceeding the end of the file by one cluster or more: "
      "offset 0x70000 size 0x10000" },
    { "backing-self",
      "open: Backing file 'DIR/backing-self.qcow2' creates an "
      "infinite loop" },
    { "backing-loop",
      "open: Could not open backing file: Backing file "
      "'DIR/backing-loop.qcow2' creates an infinite loop" },
    { "backing-missing",
      "open: Could not open backing file: Could not open "
      "'DIR/no/such/file.qcow2': No such file or directory" },
    { "backing-bad-format",
      "open: Could not open backing file: Unknown driver 'qcow3'" },
};
