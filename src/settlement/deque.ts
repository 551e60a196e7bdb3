/** A growable ring-backed double-ended queue: O(1) at both ends, no shifting of arrays. */
export class Deque<T> {
  private items: (T | undefined)[] = new Array(64);
  private head = 0;
  private count = 0;

  get length(): number {
    return this.count;
  }

  peek(): T | undefined {
    return this.count === 0 ? undefined : this.items[this.head];
  }

  peekBack(): T | undefined {
    return this.count === 0 ? undefined : this.items[(this.head + this.count - 1) & (this.items.length - 1)];
  }

  push(item: T): void {
    if (this.count === this.items.length) this.grow();
    this.items[(this.head + this.count) & (this.items.length - 1)] = item;
    this.count++;
  }

  pushFront(item: T): void {
    if (this.count === this.items.length) this.grow();
    this.head = (this.head - 1) & (this.items.length - 1);
    this.items[this.head] = item;
    this.count++;
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) & (this.items.length - 1);
    this.count--;
    return item;
  }

  pop(): T | undefined {
    if (this.count === 0) return undefined;
    const at = (this.head + this.count - 1) & (this.items.length - 1);
    const item = this.items[at];
    this.items[at] = undefined;
    this.count--;
    return item;
  }

  private grow(): void {
    const grown: (T | undefined)[] = new Array(this.items.length * 2);
    for (let i = 0; i < this.count; i++) grown[i] = this.items[(this.head + i) & (this.items.length - 1)];
    this.items = grown;
    this.head = 0;
  }
}
