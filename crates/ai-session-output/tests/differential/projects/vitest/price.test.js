import { expect, test } from "vitest";

test("formats cents", () => {
  expect((1234 / 100).toFixed(2)).toBe("12.34");
});

test("rounds half up", () => {
  expect(Math.round(2.5)).toEqual(2);
});
