const assert = require("node:assert/strict");

describe("bulk", function () {
  for (let i = 0; i < 400; i++) {
    it(`doubles ${i}`, function () {
      assert.equal(i * 2, i + i);
    });
  }
});
