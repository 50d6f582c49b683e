def add(a, b) = a + b

RSpec.describe "calc" do
  it "adds" do
    expect(add(1, 2)).to eq(3)
  end

  it "adds negatives" do
    expect(add(-1, -1)).to eq(-3)
  end

  it "divides" do
    expect(1 / 0).to eq(0)
  end

  it "is pending", skip: "later" do
    expect(true).to be(false)
  end

  describe "strings" do
    it "upcases" do
      expect("a".upcase).to eq("A")
    end

    it "concatenates" do
      expect("a" + "b").to eq("abc")
    end
  end
end
