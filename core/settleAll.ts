/**
 * Like Promise.all, but settles every promise before it rejects (with the first failure). A unit's reads and part
 * writes use its buffers: one that failed must not let the unit end while another one, still retrying a storage
 * outage, goes on writing into (or uploading from) buffers the next unit has taken over.
 */
export async function settleAll<T>(promises: Array<Promise<T>>): Promise<T[]> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}
