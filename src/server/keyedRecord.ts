// Objects keyed by data from requests or other servers (user, device and key IDs, server
// names) are made without a prototype: no key, `__proto__` or `constructor` included, can then
// reach Object.prototype or read an inherited value (issue 9). JSON.stringify and canonical JSON
// write them like plain objects.

/** An empty record without a prototype. */
export function keyedRecord<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}
