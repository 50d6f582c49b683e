module example.com/vetted

go 1.19
