import { expect, test } from "bun:test";
import { Gate } from "../../../src/modules/sandboxes/gate";

test("a gate admits at most `limit` at once, in arrival order, and survives failures", async () => {
  const gate = new Gate(2);
  let inside = 0;
  let most = 0;
  const order: number[] = [];
  const work = (i: number) =>
    gate.run(async () => {
      inside++;
      most = Math.max(most, inside);
      order.push(i);
      await Bun.sleep(5);
      inside--;
      if (i === 1) throw new Error("boom");
      return i;
    });
  const results = await Promise.allSettled([0, 1, 2, 3, 4, 5].map(work));
  expect(most).toBe(2);
  expect(order).toEqual([0, 1, 2, 3, 4, 5]);
  expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled", "fulfilled", "fulfilled", "fulfilled"]);
});
