import { describe, expect, it } from 'vitest';
import { netTotals } from './info-op.js';

const PROC_NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:  123456     100    0    0    0     0          0         0   123456     100    0    0    0     0       0          0
  eth0:    5000      40    0    0    0     0          0         0     7000      50    0    0    0     0       0          0
  eth1:1000000000   9    0    0    0     0          0         0       11       1    0    0    0     0       0          0
`;

describe('netTotals', () => {
  it('sums receive and transmit bytes over every interface but loopback', () => {
    expect(netTotals(PROC_NET_DEV)).toEqual({ rxBytes: 1_000_005_000, txBytes: 7011 });
  });

  it('says nothing when only loopback (or no file) is there', () => {
    expect(netTotals(PROC_NET_DEV.split('\n').slice(0, 3).join('\n'))).toBeUndefined();
    expect(netTotals('')).toBeUndefined();
  });
});
