RSpec.describe "bulk" do
  400.times do |i|
    it "doubles #{i}" do
      expect(i * 2).to eq(i + i)
    end
  end
end
