/**
 * A Map that forgets the entry written least recently once it holds more than `max`: for in-memory
 * state keyed by users, which must not grow with every user ever seen.
 */
export class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly max: number) {
    super();
  }

  /** Writing an entry makes it the most recent. */
  override set(key: K, value: V): this {
    super.delete(key);
    super.set(key, value);
    if (this.size > this.max) super.delete(this.keys().next().value!);
    return this;
  }
}
