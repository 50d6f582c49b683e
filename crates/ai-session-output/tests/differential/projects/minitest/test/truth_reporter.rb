# The truth for minitest: its own results through the reporter API, as JSON
# (minitest has no machine format of its own).
require "json"

class TruthReporter < Minitest::AbstractReporter
  def initialize
    @results = []
  end

  def record(result)
    @results << result
  end

  def report
    items = @results.reject(&:passed?).reject(&:skipped?).map do |r|
      failure = r.failure
      location = failure.location
      file, line = location.split(":")
      { name: "#{r.klass}##{r.name}", error: failure.is_a?(Minitest::UnexpectedError),
        file: file, line: line.to_i, message: failure.message.lines.first.to_s.strip }
    end
    File.write("truth.json", JSON.generate({
      total: @results.size, skipped: @results.count(&:skipped?), items: items
    }))
  end
end

module Minitest
  def self.plugin_truth_init(_options)
    reporter << TruthReporter.new
  end
end
Minitest.extensions << "truth"
