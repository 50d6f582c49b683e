import { test } from "node:test";
import assert from "node:assert/strict";

for (let i = 0; i < 200; i++) {
  test(`doubles ${i}`, () => {
    assert.equal(i * 2, i + i);
  });
}
