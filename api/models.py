"""The API's request and response models, with every bound stated in the OpenAPI document.

Requests are validated strictly (a number sent as a string, or 1.0 for an integer, is refused)
and within bounds an order can hold (``services.pricing`` refuses the same values from callers
that skip these models):

- ids: 1..2147483647 (``MAX_ID``: ids are INTEGER columns, int4 on PostgreSQL);
- quantity: 1..100000 (``MAX_QUANTITY``); a cart: 1..500 lines;
- distance: 0..40075000 m (``MAX_DISTANCE_M``);
- text: at most as long as its column; one-line fields carry no control characters, the
  address and the comment only tabs and line breaks (no NUL: PostgreSQL's text cannot hold
  it); never a lone surrogate, which UTF-8 cannot encode (pydantic's pattern check, which
  works on UTF-8, refuses it).

Responses: money is an exact decimal string. An amount in the system currency has at most 15
integer digits and 4 decimal places (``MoneyStr``: what ``schema.base.Money`` stores); a gateway
amount is any exact decimal (its conversion rate may divide).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.pricing import MAX_DISTANCE_M, MAX_ID, MAX_QUANTITY, CartItem

MAX_LINES = 500
ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
MULTILINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Line = Annotated[str, Field(pattern=ONE_LINE)]
Text = Annotated[str, Field(pattern=MULTILINE)]
MoneyStr = Annotated[str, Field(description="An exact decimal amount in the system currency.",
                             pattern=r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$",
                             examples=["103500.00"])]
DecimalStr = Annotated[str, Field(description="An exact decimal amount.",
                               pattern=r"^-?[0-9]+(\.[0-9]+)?$", examples=["2250.5"])]


class _Request(BaseModel):
    model_config = ConfigDict(strict=True)


# --- requests -----------------------------------------------------------------------------


class CartLineIn(_Request):
    product_id: Id = Field(description="The product's id in this store's catalog.")
    variant_id: Id | None = Field(None, description="A variant of the product (its price "
                                  "difference is added).")
    quantity: int = Field(ge=1, le=MAX_QUANTITY)


class QuoteIn(_Request):
    lines: list[CartLineIn] = Field(min_length=1, max_length=MAX_LINES)
    customer_id: Id | None = Field(None, description="A customer of this store; none: a guest.")
    channel: Literal["web", "app"] = "web"
    discount_code: Line | None = Field(None, max_length=64)
    distance_m: int | None = Field(None, ge=0, le=MAX_DISTANCE_M,
                                   description="Distance to the customer, metres.")
    shipping_method_id: Id | None = Field(None, description="The chosen shipping method; "
                                          "payment options are quoted with it.")
    payment_method_id: Id | None = Field(None, description="The chosen payment method; "
                                         "shipping options are quoted with it.")

    def cart(self) -> list[CartItem]:
        return [CartItem(line.product_id, line.quantity, line.variant_id) for line in self.lines]


class RecipientIn(_Request):
    name: Line | None = Field(None, max_length=200)
    phone: Line | None = Field(None, max_length=32)
    address: Text | None = Field(None, max_length=2000)
    city: Line | None = Field(None, max_length=100)
    postcode: Line | None = Field(None, max_length=16)


class OrderIn(QuoteIn):
    shipping_method_id: Id | None = Field(None, description="How the order travels.")
    payment_method_id: Id | None = Field(None, description="How the order is paid.")
    delivery_kind: Literal["address", "pickup_point", "locker"] = "address"
    locker_id: Id | None = Field(None, description="Delivery kind locker: the locker (GET "
                                 "/lockers); the order's parcel is registered with a cell.")
    parcel_size: Literal["s", "m", "l", "xl"] | None = Field(
        None, description="With locker_id: the parcel's size (the smallest fitting cell).")
    recipient: RecipientIn = Field(default_factory=RecipientIn)
    customer_comment: Text | None = Field(None, max_length=2000)


# --- responses ----------------------------------------------------------------------------


class StatusOut(BaseModel):
    status: Literal["ok"]
    api_version: str
    workflows: int = Field(ge=0, description="How many workflows the database holds.")


class LineOut(BaseModel):
    product_id: Id
    category_id: Id | None
    unit_price: MoneyStr
    quantity: int
    weight_g: int
    total: MoneyStr
    discount: MoneyStr
    net: MoneyStr


class AppliedDiscountOut(BaseModel):
    rule_id: Id
    name: str
    source: Literal["automatic", "code"]
    amount: MoneyStr
    base: MoneyStr
    applies_to: list[Id] = Field(description="Product ids; empty: the whole cart.")


class SkippedDiscountOut(BaseModel):
    rule_id: Id | None = Field(description="None: no discount has the entered code.")
    name: str
    reason: str


class ShippingOut(BaseModel):
    method_id: Id
    available: bool
    cost: MoneyStr
    row_position: int | None = Field(description="The cost row that decided; none: the base "
                                     "rule or a refusal.")
    postpaid: bool
    reason: str | None


class PaymentOut(BaseModel):
    method_id: Id
    available: bool
    discount: MoneyStr
    tax: MoneyStr
    reason: str | None


class GatewayOut(BaseModel):
    currency: str
    converted: DecimalStr = Field(description="The balance in the gateway's currency, before "
                               "rounding.")
    rounded: DecimalStr
    fee: DecimalStr
    amount: DecimalStr = Field(description="What the gateway is asked to charge.")


class BreakdownOut(BaseModel):
    currency: str
    lines: list[LineOut]
    subtotal: MoneyStr
    applied_discounts: list[AppliedDiscountOut]
    skipped_discounts: list[SkippedDiscountOut]
    discount_total: MoneyStr
    shipping: ShippingOut | None
    payment: PaymentOut | None
    payment_discount: MoneyStr
    tax: MoneyStr
    payable: MoneyStr
    wallet: MoneyStr
    paid: MoneyStr
    balance: MoneyStr
    gateway: GatewayOut | None


class OptionTotalsOut(BaseModel):
    """What an option changes; its lines and discounts are the quote's own breakdown's."""

    shipping: ShippingOut | None
    payment: PaymentOut | None
    payment_discount: MoneyStr
    tax: MoneyStr
    payable: MoneyStr
    balance: MoneyStr
    gateway: GatewayOut | None


class OptionOut(BaseModel):
    method_id: Id
    name: str
    kind: str
    available: bool
    cost: MoneyStr = Field(description="Shipping: its cost; payment: its discount.")
    reason: str | None
    payable: MoneyStr
    totals: OptionTotalsOut = Field(description="The totals with this option chosen (and the "
                                    "other chosen method, if any); the lines and discounts "
                                    "are the same as in the quote's breakdown.")


class QuoteOut(BaseModel):
    breakdown: BreakdownOut = Field(description="The cart with the chosen methods, if any.")
    shipping_options: list[OptionOut]
    payment_options: list[OptionOut]


class OrderOut(BaseModel):
    id: Id
    number: str
    status: str
    shipping_status: str
    currency: str
    subtotal: MoneyStr
    discount_total: MoneyStr
    shipping_cost: MoneyStr
    tax_total: MoneyStr
    payable: MoneyStr
    balance_due: MoneyStr
    breakdown: BreakdownOut
