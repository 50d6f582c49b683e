import { test, describe } from "node:test";
import assert from "node:assert/strict";

describe("queue", () => {
  test("push then shift", () => {
    const q = [1];
    q.push(2);
    assert.equal(q.shift(), 1);
  });

  test("length after push", () => {
    const q = [];
    q.push(1);
    assert.equal(q.length, 2);
  });

  test("peek on empty", { skip: "not implemented" }, () => {});
});

test("drains", () => {
  const q = [1, 2];
  q.length = 0;
  assert.deepEqual(q, [1]);
});

test("throws on bad input", () => {
  JSON.parse("{oops");
});

test("ok at the end", () => {
  assert.ok(true);
});
