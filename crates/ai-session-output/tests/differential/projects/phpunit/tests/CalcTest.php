<?php
use PHPUnit\Framework\TestCase;

final class CalcTest extends TestCase
{
    public function testAdd(): void
    {
        $this->assertSame(3, 1 + 2);
    }

    public function testAddNegative(): void
    {
        $this->assertSame(-3, -1 + -1);
    }

    public function testDivide(): void
    {
        $this->assertSame(0, intdiv(1, 0));
    }

    public function testSkipped(): void
    {
        $this->markTestSkipped('needs a database');
    }

    public function testConcat(): void
    {
        $this->assertSame('abc', 'a' . 'b', 'concatenation');
    }
}
