/** What admission needs to know about the host right now. */
export interface HostResources {
  totalBytes: number;
  availableBytes: number;
  cpus: number;
}
