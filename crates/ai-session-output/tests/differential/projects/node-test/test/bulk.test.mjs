import { test } from "node:test";
import assert from "node:assert/strict";

for (let i = 0; i < 300; i++) {
  test(`doubles ${i}`, () => {
    assert.equal(i * 2, i + i);
  });
}
