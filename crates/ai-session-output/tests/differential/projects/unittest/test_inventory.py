import unittest


class Inventory:
    def __init__(self):
        self.items = {}

    def add(self, name, count):
        self.items[name] = self.items.get(name, 0) + count
        return self.items[name]


class InventoryTest(unittest.TestCase):
    def test_add(self):
        self.assertEqual(Inventory().add("bolt", 2), 2)

    def test_add_twice(self):
        inv = Inventory()
        inv.add("nut", 1)
        self.assertEqual(inv.add("nut", 1), 3)

    def test_remove(self):
        Inventory().remove("nut")

    @unittest.skip("needs a warehouse")
    def test_warehouse(self):
        pass


class CountTest(unittest.TestCase):
    def test_zero(self):
        self.assertEqual(Inventory().add("x", 0), 0)

    def test_negative(self):
        self.assertGreater(Inventory().add("x", -1), 0, "counts stay positive")


if __name__ == "__main__":
    unittest.main()
