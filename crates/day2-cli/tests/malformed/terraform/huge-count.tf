resource "aws_instance" "fleet" {
  count         = 100000000
  instance_type = "t3.micro"
}
