/**
 * Node flags every launcher gives lodged (V8 takes them only on the command line, not from NODE_OPTIONS or at run time).
 * lodged's JS heap is ~15 MB, and V8 sizes the old generation's limit from it; the buffers a copy or a large exec
 * output moves through lodged then start a full mark-compact every few MiB. Measured with a 160 MiB `lodge cp` into
 * the guest: 19–23 mark-compacts and 1.2 s of lodged CPU by default, none and 0.3 s with a 64 MB initial old space.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=64'];
