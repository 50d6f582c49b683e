const cases = Array.from({ length: 300 }, (_, i) => i);

describe("bulk", () => {
  test.each(cases)("doubles %i", (n) => {
    expect(n * 2).toBe(n + n);
  });
});
