const assert = require("node:assert/strict");

describe("stack", function () {
  it("pushes", function () {
    const s = [];
    s.push(1);
    assert.equal(s.length, 1);
  });

  it("pops the last item", function () {
    const s = [1, 2];
    assert.equal(s.pop(), 1);
  });

  it.skip("peeks", function () {});

  it("throws on undefined", function () {
    const s = undefined;
    s.pop();
  });
});

describe("sizes", function () {
  it("starts empty", function () {
    assert.deepEqual([], []);
  });

  it("counts", function () {
    assert.deepEqual([1, 2].length, 3);
  });
});
