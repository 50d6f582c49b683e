import { describe, expect, test } from "vitest";

describe("bulk", () => {
  test.each(Array.from({ length: 300 }, (_, i) => i))("doubles %i", (n) => {
    expect(n * 2).toBe(n + n);
  });
});
