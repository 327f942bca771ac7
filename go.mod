module wsecho

go 1.24
