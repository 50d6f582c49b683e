function helper(a, b) {
  return a + 1;
}

module.exports = { total: 2 };
