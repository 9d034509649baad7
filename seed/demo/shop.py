"""A believable demo shop: three stores (Belarus, Russia, Iran) with catalog, customers, couriers,
lockers, the rule tables of the worked examples and about 2,000 orders.

``build_demo_shop`` is deterministic (seeded), fast (rows are added in bulk and flushed a few
times; the password is hashed once) and safe to run twice: when the first demo store exists it
only adds missing demo users. It never commits; the caller does. Roles come from
``seed.loader.load_seed_data``, which must have run before.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from itertools import pairwise
from typing import Any

from faker import Faker
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from schema.base import utcnow
from schema.catalog import Category, Product, ProductVariant, SaleMode, StockLevel, Warehouse
from schema.couriers import Courier
from schema.customers import Customer, CustomerGroup, CustomerKind, PointEntry
from schema.discounts import (
    Discount,
    DiscountChannel,
    DiscountKind,
    DiscountTarget,
    DiscountUsage,
)
from schema.invoices import GatewayTransaction
from schema.lockers import (
    CellSize,
    CellState,
    DropMode,
    LedgerEntry,
    Locker,
    LockerCell,
    LockerMaintenance,
    LockerTariff,
    MaintenanceAction,
    Parcel,
    ParcelEvent,
    ParcelEventKind,
    ParcelPayment,
    PaymentMethodAtLocker,
    PhoneCredit,
    TerminalRequest,
    TerminalSession,
    Zone,
)
from schema.notifications import OutboxChannel, OutboxMessage, OutboxStatus
from schema.orders import (
    Channel,
    DeliveryKind,
    OperatorAssignment,
    Order,
    OrderLine,
    OrderNote,
    OrderType,
)
from schema.payments import ConversionOp, PaymentGateway, PaymentMethod, PaymentMethodKind
from schema.people import Merchant, Role, RoleCode, User
from schema.pickup_points import PickupPoint, PickupPointKind, PickupPointOperator
from schema.shipping import (
    CostRule,
    PostalSystem,
    PostalSystemKind,
    ShippingCostRow,
    ShippingMethod,
)
from schema.workflows import StatusChange, Workflow
from seed.demo.factories import money, recompute_order_totals
from services.actor import Actor
from services.locker_charges import charge_event
from services.ordering import number_prefix, order_number
from services.topups import record_top_up

SEED = 20261123
ORDER_COUNT = 2000
DAYS = 120
DELETED_ORDERS = 20

# ---------------------------------------------------------------------------------------------
# What the shop is made of


@dataclass(frozen=True)
class StoreSpec:
    key: str
    name: str
    legal_name: str
    tax_id: str
    currency: str
    locale: str
    language: str
    email: str
    phone: str
    address: str
    cities: tuple[str, ...]
    phone_format: str  # "#" is a random digit
    price_scale: Decimal  # prices are drawn in BYN-like units and multiplied by this
    deposit: Decimal
    products: int
    customers: int
    order_share: int
    warehouses: tuple[tuple[str, str], ...]  # (name, city)
    pickup_weekday: int
    # Issue 13: the contract's money terms and the bank details its transfers carry.
    bank_account: str = ""
    credit_limit: Decimal = Decimal(0)
    low_balance_threshold: Decimal | None = None
    payout_weekday: int = 1


STORES = (
    StoreSpec(
        key="by", name="Minsk Post Market", legal_name="ООО «Минск Пост Маркет»",
        tax_id="190000001", currency="BYN", locale="ru_RU", language="ru",
        email="shop@minskpost.example", phone="+375 17 200-00-01",
        address="220030, г. Минск, пр. Независимости, 10",
        cities=("Минск", "Минск", "Минск", "Брест", "Гомель", "Гродно", "Витебск", "Могилёв"),
        phone_format="+375 (29) ###-##-##", price_scale=Decimal(1), deposit=Decimal("1500.00"),
        products=80, customers=200, order_share=45,
        warehouses=(("Минск, склад №1", "Минск"), ("Брест, склад №2", "Брест")),
        pickup_weekday=2, bank_account="BY13NBRB3600900000002Z00AB00",
        credit_limit=Decimal("300.00"), low_balance_threshold=Decimal("200.00"),
        payout_weekday=1,
    ),
    StoreSpec(
        key="ru", name="Volga Parcel Trade", legal_name="ООО «Волга Посылторг»",
        tax_id="7701000001", currency="RUB", locale="ru_RU", language="ru",
        email="orders@volga-parcel.example", phone="+7 495 100-00-01",
        address="125009, г. Москва, ул. Тверская, 7",
        cities=("Москва", "Москва", "Санкт-Петербург", "Казань", "Нижний Новгород",
                "Екатеринбург", "Самара"),
        phone_format="+7 (9##) ###-##-##", price_scale=Decimal(30), deposit=Decimal("45000.00"),
        products=70, customers=180, order_share=35,
        warehouses=(("Москва, склад Север", "Москва"), ("Казань, склад Волга", "Казань")),
        pickup_weekday=4, bank_account="40702810900000000001",
        credit_limit=Decimal("10000.00"), low_balance_threshold=Decimal("5000.00"),
        payout_weekday=3,
    ),
    StoreSpec(
        key="ir", name="Pishtaz Kala", legal_name="فروشگاه اینترنتی پیشتاز کالا",
        tax_id="10100000001", currency="IRR", locale="fa_IR", language="fa",
        email="info@pishtazkala.example", phone="+98 21 8800 0001",
        address="تهران، خیابان ولیعصر، پلاک ۱۲",
        cities=("تهران", "تهران", "اصفهان", "شیراز", "مشهد", "تبریز", "کرج"),
        phone_format="+98 91# ### ####", price_scale=Decimal(150000),
        deposit=Decimal(0), products=50, customers=120, order_share=20,
        warehouses=(("انبار مرکزی تهران", "تهران"), ("انبار اصفهان", "اصفهان")),
        pickup_weekday=6, bank_account="IR062960000000100324200001", payout_weekday=6,
    ),
)
FIRST_MERCHANT = STORES[0].name


@dataclass(frozen=True)
class Goods:
    """A kind of product: names in en/ru/fa, price range (BYN-like units), weight (g)."""

    names: tuple[str, str, str]
    price: tuple[int, int]
    weight: tuple[int, int]
    weighted: bool = False
    on_request: float = 0.0  # share sold on request
    sizes: tuple[str, ...] = ()


# root category -> subcategory -> goods
CATALOG: dict[str, dict[str, list[Goods]]] = {
    "Electronics": {
        "Phones": [Goods(("Smartphone", "Смартфон", "گوشی هوشمند"), (250, 1500), (150, 250))],
        "Headphones": [
            Goods(("Wireless headphones", "Беспроводные наушники", "هدفون بی‌سیم"),
                  (40, 300), (100, 350)),
        ],
        "Chargers": [Goods(("Charger", "Зарядное устройство", "شارژر"), (15, 80), (80, 200))],
    },
    "Home": {
        "Kitchenware": [
            Goods(("Frying pan", "Сковорода", "ماهیتابه"), (30, 150), (800, 2000)),
            Goods(("Electric kettle", "Электрочайник", "کتری برقی"), (45, 180), (900, 1600),
                  on_request=0.3),
        ],
        "Textiles": [
            Goods(("Bath towel", "Банное полотенце", "حوله حمام"), (15, 60), (300, 700)),
            Goods(("Bed linen set", "Комплект постельного белья", "ست روتختی"), (60, 250),
                  (1200, 2500), on_request=0.3),
        ],
    },
    "Clothing": {
        "T-shirts": [Goods(("T-shirt", "Футболка", "تی‌شرت"), (20, 70), (150, 250),
                           sizes=("S", "M", "L", "XL"))],
        "Shoes": [Goods(("Sneakers", "Кроссовки", "کفش ورزشی"), (80, 350), (700, 1200),
                        sizes=("39", "40", "41", "42", "43"))],
    },
    "Groceries": {
        "Cheese": [Goods(("Cheese", "Сыр", "پنیر"), (15, 45), (1000, 1000), weighted=True)],
        "Coffee": [Goods(("Coffee beans", "Кофе в зёрнах", "قهوه دانه"), (40, 120), (1000, 1000),
                         weighted=True)],
        "Fruit": [
            Goods(("Apples", "Яблоки", "سیب"), (3, 8), (1000, 1000), weighted=True),
            Goods(("Dates", "Финики", "خرما"), (10, 30), (1000, 1000), weighted=True),
        ],
    },
    "Books and stationery": {
        "Books": [Goods(("Book", "Книга", "کتاب"), (10, 60), (250, 900), on_request=0.4)],
        "Postcards and stamps": [
            Goods(("Postcard set", "Набор открыток", "مجموعه کارت پستال"), (5, 25), (50, 150)),
            Goods(("Collector stamps", "Коллекционные марки", "تمبر کلکسیونی"), (8, 90),
                  (20, 60), on_request=0.5),
        ],
    },
}
BRANDS = ("Nova", "Orion", "Vega", "Atlas", "Zenit", "Polesie", "Sahar", "Kaveh", "Alfa",
          "Mira", "Sokol", "Arya")
COLOURS = ("black", "white", "blue", "red", "green")
PER_KG = {"en": ", 1 kg", "ru": ", 1 кг", "fa": "، ۱ کیلوگرم"}

# (username, role, language, full name); the merchant user belongs to the first store.
STAFF = (
    ("superuser", RoleCode.SUPERUSER, "en", "Demo Superuser"),
    ("manager", RoleCode.MANAGER, "ru", "Ольга Ковалёва"),
    ("marketer", RoleCode.MARKETER, "fa", "سارا محمدی"),
    ("administrator", RoleCode.ADMINISTRATOR, "en", "Alex Novak"),
    ("accountant", RoleCode.ACCOUNTANT, "en", "Irina Belova"),
    ("operator", RoleCode.OPERATOR, "en", "Pavel Sidorov"),
    ("courier", RoleCode.COURIER, "en", "Andrei Klimovich"),
    ("pickup_operator", RoleCode.PICKUP_OPERATOR, "en", "Natalia Orlova"),
    ("cash_collector", RoleCode.CASH_COLLECTOR, "en", "Viktor Zhuk"),
    ("technician", RoleCode.TECHNICIAN, "en", "Dmitry Lis"),
    ("merchant", RoleCode.MERCHANT, "en", "Minsk Post Market (store user)"),
    ("sorting_center", RoleCode.SORTING_CENTER, "ru", "Мария Громова"),
)
# The "courier" user's courier signs in at a locker terminal (and the simulator) with these;
# every demo courier has the same PIN.
DEMO_BADGE, DEMO_PIN = "C-0001", "1234"
PRODUCT_ADMIN_LABEL = "Store manager (product administrator)"

# Order status (R-WF-2) weights by the order's age in days.
STATUS_WEIGHTS: tuple[tuple[int, dict[str, int]], ...] = (
    (3, {"awaiting_confirmation": 35, "confirmed": 25, "preparing": 15, "reserved": 5,
         "invoice_defect": 3, "not_confirmed": 4, "shipped": 10, "sent_to_postal": 3}),
    (14, {"awaiting_confirmation": 5, "confirmed": 10, "preparing": 10, "reserved": 5,
          "invoice_defect": 3, "not_confirmed": 5, "shipped": 30, "sent_to_postal": 12,
          "delivered": 18, "returned": 2}),
    (DAYS + 1, {"awaiting_confirmation": 1, "confirmed": 1, "preparing": 1, "reserved": 1,
                "invoice_defect": 1, "not_confirmed": 5, "shipped": 4, "sent_to_postal": 4,
                "delivered": 75, "returned": 7}),
)
BEFORE_SHIPPING = frozenset({"awaiting_confirmation", "confirmed", "not_confirmed", "preparing",
                             "reserved", "invoice_defect"})
UNPAID_STATUSES = frozenset({"awaiting_confirmation", "not_confirmed"})

NOTES = {
    "ru": ("Позвонить перед доставкой", "Клиент просит доставить после 18:00",
           "Проверить наличие на складе", "Постоянный покупатель", "Упаковать как подарок"),
    "fa": ("قبل از ارسال تماس گرفته شود", "مشتری درخواست ارسال بعد از ساعت ۱۸ دارد",
           "موجودی انبار بررسی شود", "مشتری دائمی", "بسته‌بندی کادویی"),
    "en": ("Call before delivery", "Deliver after 6 pm", "Check stock first",
           "Regular customer", "Gift wrapping"),
}
COMMENTS = {
    "ru": ("Домофон не работает, позвоните", "Оставить у двери", "Нужен чек"),
    "fa": ("زنگ خراب است، تماس بگیرید", "جلوی در بگذارید", "فاکتور رسمی لازم است"),
    "en": ("The doorbell is broken, please call", "Leave at the door", "I need a receipt"),
}


# ---------------------------------------------------------------------------------------------
# Helpers


@dataclass
class Store:
    spec: StoreSpec
    merchant: Merchant
    fake: Faker
    warehouses: list[Warehouse] = field(default_factory=list)
    products: list[Product] = field(default_factory=list)
    customers: list[Customer] = field(default_factory=list)
    couriers: list[Courier] = field(default_factory=list)
    methods: dict[str, ShippingMethod] = field(default_factory=dict)
    stock_by_product: dict[int, list[Warehouse]] = field(default_factory=dict)


class Demo:
    """State shared while one demo shop is being built."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.rng = random.Random(SEED)
        self.now = utcnow().replace(minute=0, second=0, microsecond=0)
        self.en = _faker("en_US")

    @staticmethod
    def address(spec: StoreSpec, city: str, street: str) -> str:
        return f"{city}{'، ' if spec.language == 'fa' else ', '}{street}"

    def phone(self, fmt: str) -> str:
        return "".join(str(self.rng.randint(0, 9)) if ch == "#" else ch for ch in fmt)

    def pick(self, weights: dict[str, int]) -> str:
        return self.rng.choices(list(weights), weights=list(weights.values()))[0]

    def price(self, low: int, high: int, store: StoreSpec) -> Decimal:
        base = Decimal(self.rng.randint(low * 100, high * 100)) / 100
        amount = base * store.price_scale
        if store.currency == "IRR":
            return (amount / 1000).quantize(Decimal(1)) * 1000
        if amount >= 100:
            # Shop prices end in .90 / .00 more often than not.
            return money(amount.quantize(Decimal(1)) - Decimal(self.rng.choice(("0.10", "0"))))
        return money(amount, store.currency)


def _faker(locale: str) -> Faker:
    fake = Faker(locale)
    fake.seed_instance(SEED)
    return fake


def _users(
    session: Session, merchants: dict[str, Merchant], password: str,
    warehouses: list[tuple[str, Merchant]],
) -> tuple[dict[str, User], list[tuple[str, str]]]:
    """The demo users, created when missing (the password is hashed once)."""
    roles = {r.code: r for r in session.scalars(select(Role))}
    missing_roles = [code for _, code, _, _ in STAFF if code not in roles]
    if missing_roles:
        raise LookupError("roles are not seeded; run seed.loader.load_seed_data first")
    wanted: list[tuple[str, RoleCode, str, str, Merchant | None, str]] = [
        (username, code, lang, name,
         merchants[STORES[0].key] if code is RoleCode.MERCHANT else None,
         f"{code.label} (locker terminal: badge {DEMO_BADGE}, PIN {DEMO_PIN})"
         if code is RoleCode.COURIER else code.label)
        for username, code, lang, name in STAFF
    ]
    for n, (warehouse, merchant) in enumerate(warehouses, start=1):
        wanted.append((f"padmin{n}", RoleCode.MANAGER, "en", f"Product administrator, {warehouse}",
                       merchant, PRODUCT_ADMIN_LABEL))
    names = [w[0] for w in wanted]
    users = {u.username: u for u in session.scalars(select(User).where(User.username.in_(names)))}
    new = [w for w in wanted if w[0] not in users]
    if new:
        from services.accounts import hash_password

        password_hash = hash_password(password)
        for username, code, lang, name, merchant, _ in new:
            user = User(username=username, password_hash=password_hash, full_name=name,
                        role=roles[code], merchant=merchant, language=lang,
                        email=f"{username}@postdesk.example")
            users[username] = user
            session.add(user)
        session.flush()
    return users, [(w[0], w[5]) for w in wanted]


def _warehouse_admins() -> list[tuple[str, str]]:
    return [(name, spec.key) for spec in STORES for name, _ in spec.warehouses]


# ---------------------------------------------------------------------------------------------
# The builder


def build_demo_shop(session: Session, password: str) -> list[tuple[str, str]]:
    """Build the demo shop (or only its missing users) and return (username, role) to print."""
    existing = {
        m.name: m for m in session.scalars(
            select(Merchant).where(Merchant.name.in_([s.name for s in STORES]))
        )
    }
    if FIRST_MERCHANT in existing:
        merchants = {s.key: existing.get(s.name) or existing[FIRST_MERCHANT] for s in STORES}
        admins = [(name, merchants[key]) for name, key in _warehouse_admins()]
        _, logins = _users(session, merchants, password, admins)
        return logins

    demo = Demo(session)
    stores = _merchants(demo)
    merchants = {key: store.merchant for key, store in stores.items()}
    admins = [(name, merchants[key]) for name, key in _warehouse_admins()]
    users, logins = _users(session, merchants, password, admins)

    zones = _zones(session)
    categories = _categories(session)
    _warehouses(demo, stores, users)
    pickup_points = _pickup_points(demo, users)
    postal = _postal_systems(session)
    _shipping_methods(session, stores, postal)
    payment_methods = _payment_methods(session)
    groups, discounts = _groups_and_discounts(demo)
    _couriers(demo, stores, users)
    lockers = _lockers(demo, zones)
    _tariffs(session, zones)
    session.flush()
    _courier_pins(demo, stores)

    _products(demo, stores, categories)
    session.flush()
    _customers(demo, stores, groups)
    session.flush()
    orders = _orders(demo, stores, users, payment_methods, discounts, groups, postal,
                     pickup_points, lockers)
    session.flush()
    _parcels(demo, stores, orders, lockers, zones)
    _maintenance_log(demo, lockers, users["technician"])
    session.flush()
    return logins


def payment_reference(spec: StoreSpec) -> str:
    """What the store writes on its bank transfers (matched by the statement import)."""
    return f"PD-{spec.key.upper()}-{spec.tax_id}"


def _merchants(demo: Demo) -> dict[str, Store]:
    stores: dict[str, Store] = {}
    for spec in STORES:
        merchant = Merchant(
            name=spec.name, legal_name=spec.legal_name, tax_id=spec.tax_id, email=spec.email,
            phone=spec.phone, address=spec.address, currency=spec.currency, balance=Decimal(0),
            cash_fee_percent=Decimal("1.5"), pickup_weekday=spec.pickup_weekday, active=True,
            payment_reference=payment_reference(spec), bank_account=spec.bank_account,
            credit_limit=spec.credit_limit, low_balance_threshold=spec.low_balance_threshold,
            payout_weekday=spec.payout_weekday,
        )
        demo.session.add(merchant)
        stores[spec.key] = Store(spec, merchant, _faker(spec.locale))
    demo.session.flush()
    return stores


def _zones(session: Session) -> dict[int, Zone]:
    zones = {z.number: z for z in session.scalars(select(Zone))}
    for number in range(1, 11):
        if number not in zones:
            zones[number] = Zone(number=number, code=f"Z{number}", name=f"Zone {number}")
            session.add(zones[number])
    return zones


def _categories(session: Session) -> dict[str, Category]:
    """Subcategory name -> category (roots are parents)."""
    out: dict[str, Category] = {}
    for position, (root_name, subs) in enumerate(CATALOG.items(), start=1):
        root = Category(name=root_name, position=position * 10,
                        description=f"{root_name}: every product of this department")
        session.add(root)
        for sub_position, sub_name in enumerate(subs, start=1):
            out[sub_name] = Category(name=sub_name, parent=root, position=sub_position * 10,
                                     description=f"{sub_name} ({root_name})")
            session.add(out[sub_name])
    return out


def _warehouses(demo: Demo, stores: dict[str, Store], users: dict[str, User]) -> None:
    n = 0
    for store in stores.values():
        for name, city in store.spec.warehouses:
            n += 1
            warehouse = Warehouse(
                merchant=store.merchant, name=name, city=city,
                address=demo.address(store.spec, city, store.fake.street_address()),
                phone=demo.phone(store.spec.phone_format), product_admin=users[f"padmin{n}"],
            )
            store.warehouses.append(warehouse)
            demo.session.add(warehouse)


def _pickup_points(demo: Demo, users: dict[str, User]) -> dict[str, PickupPoint]:
    points = {
        "by": PickupPoint(code="PVZ-MSK-01", name="Пункт выдачи «Немига»",
                          kind=PickupPointKind.PICKUP_POINT, city="Минск",
                          address="г. Минск, ул. Немига, 5", phone="+375 17 200-10-10"),
        "ru": PickupPoint(code="PVZ-MOW-01", name="Пункт выдачи «Арбат»",
                          kind=PickupPointKind.PICKUP_POINT, city="Москва",
                          address="г. Москва, ул. Арбат, 20", phone="+7 495 100-20-20"),
        "sort": PickupPoint(code="SC-MSK-01", name="Сортировочный центр Минск",
                            kind=PickupPointKind.SORTING_CENTER, city="Минск",
                            address="г. Минск, ул. Промышленная, 12",
                            phone="+375 17 200-30-30"),
    }
    demo.session.add_all(points.values())
    demo.session.add_all(
        PickupPointOperator(pickup_point=points[key], user=users["pickup_operator"])
        for key in ("by", "sort")
    )
    return points


def _postal_systems(session: Session) -> dict[str, PostalSystem]:
    systems = {
        "by": PostalSystem(kind=PostalSystemKind.BELPOST, name="Belpost", active=True,
                           username="demo", password="demo-secret", api_key="demo-secret"),
        "ir": PostalSystem(kind=PostalSystemKind.CENTRAL_POST, name="Iran Post (central post)",
                           active=True, username="demo", password="demo-secret",
                           api_key="demo-secret"),
        "ru": PostalSystem(kind=PostalSystemKind.OTHER, name="Russian Post", active=True,
                           username="demo", password="demo-secret", api_key="demo-secret"),
        "frotel": PostalSystem(kind=PostalSystemKind.FROTEL, name="Frotel", active=False,
                               username="demo", password="demo-secret"),
    }
    session.add_all(systems.values())
    return systems


def _method(name: str, rule: CostRule, base: str, currency: str, *,
            rows: tuple[dict[str, Any], ...] = (), **kw: Any) -> ShippingMethod:
    method = ShippingMethod(name=name, cost_rule=rule, base_cost=Decimal(base),
                            currency=currency, active=True, **kw)
    method.rows = [ShippingCostRow(position=n, **row) for n, row in enumerate(rows, start=1)]
    return method


def _shipping_methods(session: Session, stores: dict[str, Store],
                      postal: dict[str, PostalSystem]) -> None:
    """The R-RULE-4 worked examples (in rials) and each store's usual methods."""
    ir, by, ru = stores["ir"].methods, stores["by"].methods, stores["ru"].methods
    ir["motor"] = _method("Motor courier", CostRule.FIXED, "1000", "IRR",
                          description="Motorbike courier in the city, 1000 per order.")
    ir["pishtaz"] = _method(
        "Pishtaz post", CostRule.BY_WEIGHT, "200", "IRR", postal_system=postal["ir"],
        description="Express post: 200 per gram; carts of 100000 or more pay 3500.",
        rows=({"min_cart_price": Decimal(100000), "cost": Decimal(3500)},),
    )
    ir["tipax"] = _method(
        "Tipax express", CostRule.FIXED, "30000", "IRR",
        description="Courier company; 65000 when the customer is 10 km away or more.",
        rows=({"min_distance_m": 10000, "cost": Decimal(65000)},),
    )
    ir["economy"] = _method(
        "Economy courier (small carts)", CostRule.FIXED, "2000", "IRR",
        description="Not offered for carts of 5000 or more.",
        rows=({"min_cart_price": Decimal(5000), "out_of_range": True},),
    )
    by["belpost"] = _method("Belpost parcel", CostRule.FIXED, "6.50", "BYN",
                            postal_system=postal["by"], max_weight_g=20000,
                            description="Registered parcel to a post office.")
    by["locker"] = _method("Parcel locker", CostRule.FIXED, "4.00", "BYN",
                           description="Delivery to a parcel locker, stored 3 days.")
    by["courier"] = _method(
        "Courier in Minsk", CostRule.FIXED, "8.00", "BYN", postpaid=True,
        description="Door to door; free for carts of 150 BYN or more.",
        rows=({"min_cart_price": Decimal(150), "cost": Decimal(0)},),
    )
    ru["post"] = _method("Russian Post parcel", CostRule.BY_WEIGHT, "0.15", "RUB",
                         postal_system=postal["ru"], max_weight_g=20000,
                         description="0.15 RUB per gram of the cart.")
    ru["courier"] = _method(
        "Courier (Moscow)", CostRule.FIXED, "350", "RUB",
        description="Free for carts of 5000 RUB or more.",
        rows=({"min_cart_price": Decimal(5000), "cost": Decimal(0)},),
    )
    for store in stores.values():
        session.add_all(store.methods.values())


def _shipping_cost(method: ShippingMethod, cart: Decimal, items: int, weight_g: int,
                   distance_m: int) -> Decimal | None:
    """R-RULE-3: rows in order, a zero condition ignored; None when out of range."""
    for row in sorted(method.rows, key=lambda r: r.position):
        conditions = (
            (row.min_cart_price, cart), (row.min_item_count, items),
            (row.min_weight_g, weight_g), (row.min_distance_m, distance_m),
        )
        if not any(minimum for minimum, _ in conditions):
            continue
        if all(not minimum or value >= minimum for minimum, value in conditions):
            return None if row.out_of_range else row.cost
    if method.cost_rule is CostRule.FIXED:
        return method.base_cost
    if method.cost_rule is CostRule.BY_WEIGHT:
        return method.base_cost * weight_g
    return cart * method.base_cost / 100


def _payment_methods(session: Session) -> dict[PaymentMethodKind, PaymentMethod]:
    gateway = PaymentGateway(
        name="Mellat (demo)", kind="mellat", terminal_id="demo-terminal", username="demo",
        password="demo-secret", api_key="demo-secret", currency="IRR",
        conversion_rate=Decimal(100000), conversion_op=ConversionOp.MULTIPLY,
        rounding_digits=2, decimals=0, active=True, fee_percent=Decimal("0.5"),
    )
    methods = {
        PaymentMethodKind.ONLINE: PaymentMethod(
            kind=PaymentMethodKind.ONLINE, name="Online payment", gateway=gateway,
            discount_kind=DiscountKind.PERCENT, discount_value=Decimal(2),
            description="Pay by card through the payment gateway: 2% off."),
        PaymentMethodKind.BANK_SLIP: PaymentMethod(
            kind=PaymentMethodKind.BANK_SLIP, name="Bank slip",
            description="Transfer to the store's account and send the slip number."),
        PaymentMethodKind.CASH_ON_DELIVERY: PaymentMethod(
            kind=PaymentMethodKind.CASH_ON_DELIVERY, name="Cash on delivery",
            description="Cash or card to the courier or at the pickup point."),
        PaymentMethodKind.CHEQUE: PaymentMethod(
            kind=PaymentMethodKind.CHEQUE, name="Cheque",
            description="A bank cheque checked before shipping."),
        PaymentMethodKind.DEFERRED: PaymentMethod(
            kind=PaymentMethodKind.DEFERRED, name="Deferred payment",
            description="For legal entities: pay within 14 days of the invoice."),
    }
    session.add(gateway)
    session.add_all(methods.values())
    return methods


def _groups_and_discounts(demo: Demo) -> tuple[dict[str, CustomerGroup], dict[str, Discount]]:
    """R-RULE-2: group "100-200" gets 10% off and "over 200" 20%, automatically."""
    existing = {g.name: g for g in demo.session.scalars(select(CustomerGroup))}
    specs = (("100-200", 100, 200, "Customers with 100 to 200 points"),
             ("over 200", 201, None, "Customers with more than 200 points"))
    groups: dict[str, CustomerGroup] = {}
    for name, low, high, description in specs:
        groups[name] = existing.get(name) or CustomerGroup(
            name=name, min_points=low, max_points=high, description=description)
        demo.session.add(groups[name])
    expires = demo.now + timedelta(days=90)
    discounts = {
        "100-200": Discount(
            name="Loyalty 10% (100-200 points)", automatic=True, kind=DiscountKind.PERCENT,
            value=Decimal(10), target=DiscountTarget.GROUP, customer_group=groups["100-200"],
            channel=DiscountChannel.BOTH, priority=10, active=True),
        "over 200": Discount(
            name="Loyalty 20% (over 200 points)", automatic=True, kind=DiscountKind.PERCENT,
            value=Decimal(20), target=DiscountTarget.GROUP, customer_group=groups["over 200"],
            channel=DiscountChannel.BOTH, priority=20, active=True),
        "WELCOME10": Discount(
            name="Welcome 10%", code="WELCOME10", automatic=False, kind=DiscountKind.PERCENT,
            value=Decimal(10), target=DiscountTarget.EVERYONE, channel=DiscountChannel.BOTH,
            uses_per_customer=1, total_uses_allowed=1000, expires_at=expires, active=True,
            description="10% off the first order."),
        "SUMMER5": Discount(
            name="Summer 5 BYN off", code="SUMMER5", automatic=False, kind=DiscountKind.AMOUNT,
            value=Decimal(5), currency="BYN", min_cart_price=Decimal(50),
            target=DiscountTarget.EVERYONE, channel=DiscountChannel.WEB,
            expires_at=demo.now - timedelta(days=30), active=False,
            description="Expired: 5 BYN off carts of 50 BYN or more."),
    }
    demo.session.add_all(discounts.values())
    return groups, discounts


def _couriers(demo: Demo, stores: dict[str, Store], users: dict[str, User]) -> None:
    plan = (("by", 3, "Минск"), ("ru", 2, "Москва"), ("ir", 3, "تهران"))
    badge = 0
    for key, count, area in plan:
        store = stores[key]
        for i in range(count):
            badge += 1
            linked = key == "by" and i == 0
            courier = Courier(
                user=users["courier"] if linked else None,
                full_name=users["courier"].full_name if linked else store.fake.name(),
                mobile=demo.phone(store.spec.phone_format),
                address=demo.address(store.spec, area, store.fake.street_address()),
                service_area=area,
                vehicle=demo.rng.choice(("motorbike", "car", "van", "bicycle")),
                badge_number=f"C-{badge:04d}",
                national_id=f"{demo.rng.randint(10**9, 10**10 - 1)}",
                active=True,
            )
            store.couriers.append(courier)
            demo.session.add(courier)


def _courier_pins(demo: Demo, stores: dict[str, Store]) -> None:
    """Every demo courier's terminal PIN is DEMO_PIN, hashed once as the terminal stores it."""
    from services.terminal import set_courier_pin

    couriers = [c for store in stores.values() for c in store.couriers]
    first = couriers[0]
    assert first.badge_number == DEMO_BADGE and first.user is not None
    set_courier_pin(demo.session, first.id, DEMO_PIN)
    for courier in couriers[1:]:
        courier.pin_hash = first.pin_hash


LOCKERS = (
    ("PM-001", "Постамат «Галерея Минск»", "Минск", "пр. Победителей, 9", 1, 53.9086, 27.5486),
    ("PM-002", "Постамат «Каменная Горка»", "Минск", "ул. Притыцкого, 156", 3, 53.9066, 27.4366),
    ("PM-003", "Постамат «Уручье»", "Минск", "пр. Независимости, 168", 5, 53.9452, 27.6877),
    ("PM-004", "Постамат «Брест Центр»", "Брест", "ул. Советская, 48", 7, 52.0938, 23.6851),
    ("PM-005", "Постамат «Гомель Вокзал»", "Гомель", "пл. Привокзальная, 1", 10, 52.4316,
     30.9928),
)
CELL_SIZES = (CellSize.S,) * 6 + (CellSize.M,) * 7 + (CellSize.L,) * 5 + (CellSize.XL,) * 2


def _lockers(demo: Demo, zones: dict[int, Zone]) -> list[Locker]:
    lockers = []
    for n, (code, name, city, address, zone, lat, lon) in enumerate(LOCKERS):
        locker = Locker(code=code, name=name, city=city, address=f"{city}, {address}",
                        zone=zones[zone], latitude=lat, longitude=lon, active=True)
        locker.cells = [
            LockerCell(code=f"{'ABCD'[i // 5]}{i % 5 + 1}", size=size,
                       state=CellState.OUT_OF_ORDER if (n, i) in {(0, 11), (1, 7), (3, 12)}
                       else CellState.FREE)
            for i, size in enumerate(CELL_SIZES)
        ]
        lockers.append(locker)
    demo.session.add_all(lockers)
    return lockers


def _tariffs(session: Session, zones: dict[int, Zone]) -> None:
    """R-RULE-8: pickup, delivery and 3 days' storage, an unused reservation and each extra
    storage day, by zone, in BYN."""
    session.add_all(
        LockerTariff(
            zone=zones[z], size=None, currency="BYN", storage_days=3,
            pickup_price=money(Decimal("2.50") + Decimal("0.25") * (z - 1)),
            delivery_price=money(Decimal("3.00") + Decimal("0.30") * (z - 1)),
            storage_price_3_days=money(Decimal("1.50") + Decimal("0.10") * (z - 1)),
            unused_price=money(Decimal("1.00") + Decimal("0.10") * (z - 1)),
            extra_day_price=money(Decimal("0.50") + Decimal("0.05") * (z - 1)),
        )
        for z in range(1, 11)
    )


def _products(demo: Demo, stores: dict[str, Store], categories: dict[str, Category]) -> None:
    lang_index = {"en": 0, "ru": 1, "fa": 2}
    kinds = [(sub, goods) for subs in CATALOG.values() for sub, items in subs.items()
             for goods in items]
    rng = demo.rng
    for store in stores.values():
        spec = store.spec
        for n in range(spec.products):
            sub, goods = kinds[n % len(kinds)] if n < len(kinds) else rng.choice(kinds)
            brand = rng.choice(BRANDS)
            noun = goods.names[lang_index[spec.language]]
            if goods.weighted:
                name = f"{noun} {brand}{PER_KG[spec.language]}"
            else:
                name = f"{noun} {brand} {rng.choice('ASXMP')}{rng.randint(1, 99)}"
            sku = f"{spec.key.upper()}-{n + 1:04d}"
            has_picture = rng.random() > 0.04
            on_request = rng.random() < goods.on_request
            product = Product(
                merchant=store.merchant, sku=sku, name=name,
                description=f"{name}. {goods.names[0]} by {brand}.",
                picture_url=f"https://picsum.photos/seed/{sku}/400" if has_picture else None,
                category=categories[sub],
                sale_mode=SaleMode.ON_REQUEST if on_request else SaleMode.DIRECT,
                price=demo.price(*goods.price, spec), currency=spec.currency,
                weight_g=rng.randint(*goods.weight), is_weighted=goods.weighted,
                points=rng.randint(1, 20), on_sale=has_picture,
            )
            # Collections are set even when empty so that reading them later needs no query.
            product.variants = [
                ProductVariant(colour=colour, size=size, sku=f"{sku}-{colour[:2]}-{size}",
                               price_delta=Decimal(0))
                for colour in (rng.sample(COLOURS, 2) if goods.sizes else ())
                for size in goods.sizes
            ]
            product.stock_levels = []
            if not on_request:
                warehouses = rng.sample(store.warehouses, rng.randint(1, len(store.warehouses)))
                for warehouse in warehouses:
                    if product.variants:
                        product.stock_levels.extend(
                            StockLevel(variant=v, warehouse=warehouse,
                                       quantity=rng.randint(0, 30), min_quantity=2)
                            for v in product.variants
                        )
                    else:
                        product.stock_levels.append(StockLevel(
                            warehouse=warehouse, quantity=rng.randint(0, 150),
                            min_quantity=rng.choice((0, 5, 10))))
                store.stock_by_product[id(product)] = warehouses
            store.products.append(product)
            demo.session.add(product)


def _customers(demo: Demo, stores: dict[str, Store], groups: dict[str, CustomerGroup]) -> None:
    rng = demo.rng
    for store in stores.values():
        spec = store.spec
        for _ in range(spec.customers):
            band = rng.random()
            points = (rng.randint(0, 99) if band < 0.4 else rng.randint(100, 200)
                      if band < 0.75 else rng.randint(201, 500))
            group = (None if points < 100 else groups["100-200"] if points <= 200
                     else groups["over 200"])
            legal = rng.random() < 0.1
            fake = store.fake if rng.random() > 0.05 else demo.en
            city = rng.choice(spec.cities)
            customer = Customer(
                merchant=store.merchant,
                name=fake.company() if legal else fake.name(),
                kind=CustomerKind.LEGAL if legal else CustomerKind.INDIVIDUAL,
                tax_id=f"{rng.randint(10**8, 10**9 - 1)}" if legal else None,
                phone=demo.phone(spec.phone_format),
                email=f"c{spec.key}{len(store.customers) + 1}@mail.example",
                address=demo.address(spec, city, fake.street_address()), city=city,
                postcode=f"{rng.randint(100000, 999999)}",
                group=group, points=points, currency=spec.currency,
                wallet_balance=money(demo.price(0, 20, spec) if rng.random() < 0.15 else 0,
                                     spec.currency),
                registered=True, language="en" if fake is demo.en else spec.language,
            )
            store.customers.append(customer)
            demo.session.add(customer)
            if points:
                demo.session.add(PointEntry(customer=customer, points=points,
                                            reason="Opening balance (demo)"))


def _order_status(demo: Demo, age_days: float) -> str:
    for limit, weights in STATUS_WEIGHTS:
        if age_days < limit:
            return demo.pick(weights)
    return "delivered"


def _shipping_status(demo: Demo, status: str, delivery: DeliveryKind) -> str:
    rng = demo.rng
    if status in BEFORE_SHIPPING:
        return "not_loaded"
    if status == "shipped":
        return "left_warehouse"
    if status == "sent_to_postal":
        return "handed_to_postal"
    if status == "returned":
        return rng.choice(("left_warehouse", "partial_delivery"))
    if delivery is DeliveryKind.PICKUP_POINT and rng.random() < 0.15:
        return "no_shipping_needed"
    return "partial_delivery" if rng.random() < 0.07 else "delivered_to_customer"


def _courier_status(demo: Demo, status: str) -> str | None:
    rng = demo.rng
    if status in ("confirmed", "reserved", "preparing", "invoice_defect"):
        return rng.choice(("assigned", "assigned", "accepted"))
    if status == "shipped":
        return rng.choices(("picked_up", "on_the_way", "failed"), weights=(30, 60, 10))[0]
    if status == "delivered":
        return "delivered"
    if status == "returned":
        return "returned"
    return None


def _pick_method(demo: Demo, store: Store, delivery: DeliveryKind) -> ShippingMethod:
    m, rng = store.methods, demo.rng
    if store.spec.key == "ir":
        if delivery is DeliveryKind.PICKUP_POINT:
            return m["pishtaz"]
        return m[rng.choice(("motor", "motor", "tipax", "pishtaz"))]
    if store.spec.key == "by":
        if delivery is DeliveryKind.LOCKER:
            return m["locker"]
        if delivery is DeliveryKind.PICKUP_POINT:
            return m["belpost"]
        return m[rng.choice(("courier", "courier", "belpost"))]
    return m["post"] if delivery is DeliveryKind.PICKUP_POINT else m["courier"]


COURIER_METHODS = frozenset({"Motor courier", "Tipax express", "Courier in Minsk",
                             "Courier (Moscow)", "Economy courier (small carts)"})


def _orders(demo: Demo, stores: dict[str, Store], users: dict[str, User],
            payment_methods: dict[PaymentMethodKind, PaymentMethod],
            discounts: dict[str, Discount], groups: dict[str, CustomerGroup],
            postal: dict[str, PostalSystem], pickup_points: dict[str, PickupPoint],
            lockers: list[Locker]) -> list[Order]:
    rng, session = demo.rng, demo.session
    store_list = list(stores.values())
    times = sorted(demo.now - timedelta(seconds=rng.randint(600, DAYS * 86400))
                   for _ in range(ORDER_COUNT))
    orders: list[Order] = []
    usage_count: dict[str, int] = {}
    gateway = payment_methods[PaymentMethodKind.ONLINE].gateway
    deleted = set(rng.sample(range(ORDER_COUNT), DELETED_ORDERS))
    for index, ordered_at in enumerate(times):
        store = rng.choices(store_list, weights=[s.spec.order_share for s in store_list])[0]
        spec = store.spec
        age_days = (demo.now - ordered_at).total_seconds() / 86400
        status = _order_status(demo, age_days)
        customer = rng.choice(store.customers) if rng.random() > 0.05 else None
        delivery = rng.choices(
            (DeliveryKind.ADDRESS, DeliveryKind.PICKUP_POINT, DeliveryKind.LOCKER),
            weights=(60, 25, 15 if spec.key == "by" else 0),
        )[0]

        # Cart: 1-4 lines of distinct products stocked in one warehouse (one product admin).
        warehouse = rng.choice(store.warehouses)
        candidates = [p for p in store.products
                      if warehouse in store.stock_by_product.get(id(p), [warehouse])]
        picked = rng.sample(candidates, rng.randint(1, 4))
        order = Order(
            merchant=store.merchant, number=f"~demo-{index}", ordered_at=ordered_at,
            created_at=ordered_at, updated_at=ordered_at,
            status=status, shipping_status=_shipping_status(demo, status, delivery),
            order_type=OrderType.URGENT if rng.random() < 0.1 else OrderType.REGULAR,
            channel=rng.choices((Channel.WEB, Channel.APP, Channel.ADMIN),
                                weights=(60, 30, 10))[0],
            delivery_kind=delivery, currency=spec.currency, customer=customer,
            product_admin=warehouse.product_admin, wallet_amount=Decimal(0),
            paid_amount=Decimal(0),
        )
        picked_weighed = status not in BEFORE_SHIPPING or status == "preparing"
        for product in picked:
            variant = rng.choice(product.variants) if product.variants else None
            unit_price = product.price + (variant.price_delta if variant else 0)
            if product.is_weighted:
                ordered_g = rng.choice((500, 1000, 1500, 2000))
                actual_g = (ordered_g + rng.randint(-120, 120)) if picked_weighed else None
                quantity, weight = 1, ordered_g
                line_total = money(unit_price * (actual_g or ordered_g) / 1000, spec.currency)
            else:
                quantity, actual_g = rng.choices((1, 2, 3), weights=(70, 20, 10))[0], None
                weight = product.weight_g * quantity
                line_total = money(unit_price * quantity, spec.currency)
            OrderLine(order=order, product=product, variant=variant, warehouse=warehouse,
                      quantity=quantity, unit_price=unit_price, line_total=line_total,
                      currency=spec.currency, weight_g=weight, actual_weight_g=actual_g)
        cart = sum((line.line_total for line in order.lines), Decimal(0))
        items = sum(line.quantity for line in order.lines)
        weight_g = sum(line.actual_weight_g or line.weight_g for line in order.lines)

        # Payment method (R-RULE-5); a rejected slip or cheque is "not confirmed".
        legal = customer is not None and customer.kind is CustomerKind.LEGAL
        kinds = {PaymentMethodKind.ONLINE: 45, PaymentMethodKind.BANK_SLIP: 15,
                 PaymentMethodKind.CASH_ON_DELIVERY: 30,
                 PaymentMethodKind.CHEQUE: 8 if spec.key == "ir" else 2,
                 PaymentMethodKind.DEFERRED: 30 if legal else 0}
        kind = PaymentMethodKind(demo.pick({k.value: w for k, w in kinds.items()}))
        if status == "not_confirmed" and kind not in (PaymentMethodKind.BANK_SLIP,
                                                      PaymentMethodKind.CHEQUE):
            kind = PaymentMethodKind.BANK_SLIP
        order.payment_method = payment_methods[kind]

        # Discounts: the customer's group (automatic), else sometimes WELCOME10; online -2%.
        discount: Discount | None = None
        if customer is not None and customer.group is groups["100-200"]:
            discount = discounts["100-200"]
        elif customer is not None and customer.group is groups["over 200"]:
            discount = discounts["over 200"]
        elif customer is not None and rng.random() < 0.08:
            discount = discounts["WELCOME10"]
            order.discount_code = "WELCOME10"
        discount_amount = money(cart * discount.value / 100, spec.currency) if discount else 0
        online_amount = (money(cart * 2 / 100, spec.currency)
                         if kind is PaymentMethodKind.ONLINE else 0)
        order.discount = discount
        order.discount_total = money(discount_amount + online_amount, spec.currency)

        # Shipping (R-RULE-3/4).
        method = _pick_method(demo, store, delivery)
        distance = rng.randint(1500, 25000) if delivery is DeliveryKind.ADDRESS else 0
        cost = _shipping_cost(method, cart, items, weight_g, distance)
        if cost is None:  # out of range: fall back to the first method of the store
            method = next(iter(store.methods.values()))
            cost = _shipping_cost(method, cart, items, weight_g, distance) or Decimal(0)
        order.shipping_method = method
        order.shipping_cost = money(cost, spec.currency)
        order.distance_m = distance or None
        order.postpaid_shipping = method.postpaid

        # Recipient.
        fake = store.fake
        if customer is not None:
            order.recipient_name, order.recipient_phone = customer.name, customer.phone
            order.recipient_address, order.recipient_city = customer.address, customer.city
            order.recipient_postcode = customer.postcode
            order.customer_kind = customer.kind
            order.buyer_tax_id = customer.tax_id
        else:
            city = rng.choice(spec.cities)
            order.recipient_name = fake.name()
            order.recipient_phone = demo.phone(spec.phone_format)
            order.recipient_address = demo.address(spec, city, fake.street_address())
            order.recipient_city = city
        if delivery is DeliveryKind.PICKUP_POINT and spec.key in pickup_points:
            order.pickup_point = pickup_points[spec.key]
        if delivery is DeliveryKind.LOCKER:
            order.locker = rng.choice(lockers)

        # Money: wallet, paid at order time, balance due.
        recompute_order_totals(order)
        if customer is not None and customer.wallet_balance and rng.random() < 0.4:
            order.wallet_amount = min(customer.wallet_balance, order.payable)
        paid_kinds = (PaymentMethodKind.ONLINE, PaymentMethodKind.BANK_SLIP,
                      PaymentMethodKind.CHEQUE)
        if kind in paid_kinds and status not in UNPAID_STATUSES:
            order.paid_amount = order.payable - order.wallet_amount
            order.payment_date = min(demo.now,
                                     ordered_at + timedelta(minutes=rng.randint(2, 600)))
        recompute_order_totals(order)
        if kind is PaymentMethodKind.BANK_SLIP:
            order.bank_slip = f"{rng.randint(10**9, 10**10 - 1)}"
            order.payment_info = f"Bank slip {order.bank_slip}"
        elif kind is PaymentMethodKind.CHEQUE:
            order.cheque = f"{rng.randint(10**7, 10**8 - 1)}"
            order.payment_info = f"Cheque {order.cheque}"
        elif kind is PaymentMethodKind.ONLINE:
            paid = status != "awaiting_confirmation"
            code = f"{rng.randint(10**11, 10**12 - 1)}"
            order.payment_info = f"{gateway.name}: {code}" if paid else f"{gateway.name}: pending"
            session.add(GatewayTransaction(
                order=order, gateway=gateway, amount=order.payable - order.wallet_amount,
                currency=spec.currency, entered_at=ordered_at + timedelta(minutes=1),
                status="paid" if paid else "started",
                gateway_message="Transaction successful" if paid else "Waiting for the payer",
                tracking_code=code if paid else None,
            ))

        # Shipping progress: tracking number, postal system, courier.
        if status not in BEFORE_SHIPPING:
            order.tracking_number = (
                f"RR{index + 1:09d}BY" if spec.key == "by" else
                f"RA{index + 1:09d}RU" if spec.key == "ru" else
                f"{ordered_at:%y%m%d}{index + 1:014d}"
            )
        if status == "sent_to_postal" or order.shipping_status == "handed_to_postal":
            order.postal_system = method.postal_system or postal[spec.key]
        if (delivery is DeliveryKind.ADDRESS and method.name in COURIER_METHODS
                and status not in UNPAID_STATUSES and status != "sent_to_postal"
                and rng.random() < 0.85):
            courier_status = _courier_status(demo, status)
            if courier_status:
                couriers = store.couriers
                linked = couriers[0] if couriers[0].user is not None else None
                order.courier = linked if linked and rng.random() < 0.5 else rng.choice(couriers)
                order.courier_status = courier_status

        # People and notes.
        assigned_at = min(demo.now, ordered_at + timedelta(minutes=rng.randint(5, 120)))
        if rng.random() < 0.4:
            order.operator = users["operator"]
            session.add(OperatorAssignment(
                order=order, from_operator=None, to_operator=users["operator"],
                assigned_by_id=users["manager"].id,
                comment=rng.choice(("Please check the payment", "Call the customer",
                                    "Urgent: ship today", None)),
                created_at=assigned_at, updated_at=assigned_at,
            ))
        notes = NOTES[spec.language]
        if rng.random() < 0.12:
            order.note = rng.choice(notes)
        if rng.random() < 0.08:
            session.add(OrderNote(order=order, author=users["manager"], text=rng.choice(notes),
                                  created_at=assigned_at, updated_at=assigned_at))
        if rng.random() < 0.1:
            order.customer_comment = rng.choice(COMMENTS[spec.language])
        if legal and rng.random() < 0.5:
            order.invoice_note = "Invoice for a legal entity; contract attached"
        if index in deleted:
            order.deleted_at = min(demo.now, ordered_at + timedelta(days=rng.randint(1, 5)))

        if discount is not None:
            session.add(DiscountUsage(
                discount=discount, order=order, customer=customer, amount=discount_amount,
                currency=spec.currency, used_at=ordered_at,
            ))
            usage_count[discount.name] = usage_count.get(discount.name, 0) + 1
        orders.append(order)
    session.add_all(orders)
    for discount in discounts.values():
        discount.times_used = usage_count.get(discount.name, 0)
    _number_orders(session, orders)
    return orders


def _number_orders(session: Session, orders: list[Order]) -> None:
    """The numbers every channel gives (services.ordering: prefix and id), set once the ids
    are known, in one executemany that keeps each order's historical ``updated_at`` and its
    version (an ORM update would move both)."""
    session.flush()
    prefix = number_prefix(session)
    table = Order.__table__
    session.execute(
        update(table).where(table.c.id == bindparam("order_id"))
        .values(number=bindparam("new_number"), updated_at=bindparam("kept_updated_at")),
        [{"order_id": o.id, "new_number": order_number(prefix, o.id),
          "kept_updated_at": o.updated_at} for o in orders],
    )
    for order in orders:
        set_committed_value(order, "number", order_number(prefix, order.id))


PARCEL_STATUS = {
    # order status -> parcel statuses it may be in
    "confirmed": ("registered", "pickup_requested"),
    "reserved": ("registered",),
    "preparing": ("registered", "pickup_requested"),
    "shipped": ("at_sorting_center", "with_courier", "in_locker"),
    "sent_to_postal": ("at_sorting_center",),
    "delivered": ("picked_up",),
    "returned": ("returned", "storage_expired"),
}
STANDALONE_PARCELS = ("created", "registered", "pickup_requested", "at_sorting_center",
                      "with_courier", "in_locker", "in_locker", "picked_up", "picked_up",
                      "storage_expired", "returned")
# The walk-through at the first locker (PM-001) for the terminal simulator: the demo courier
# (badge DEMO_BADGE, PIN DEMO_PIN) places the registered and "with courier" parcels, collects
# the expired one; buyers pick up the placed ones with the codes in their SMS (the outbox).
WALKTHROUGH = ("registered", "with_courier", "with_courier", "in_locker", "in_locker",
               "storage_expired", "picked_up")
NEEDS_CELL = {"registered": CellState.RESERVED, "pickup_requested": CellState.RESERVED,
              "at_sorting_center": CellState.RESERVED, "with_courier": CellState.RESERVED,
              "in_locker": CellState.OCCUPIED, "storage_expired": CellState.OCCUPIED}
# The workflow's path to each status (courier pickup; a self-dropped parcel skips
# "pickup_requested": the store brings it to the sorting centre) and the events each step emits.
PARCEL_PATH = ("created", "registered", "pickup_requested", "at_sorting_center", "with_courier",
               "in_locker")
STEP_EVENTS = {
    "registered": (ParcelEventKind.REGISTERED, ParcelEventKind.RESERVED),
    "at_sorting_center": (ParcelEventKind.RECEIVED,),
    "in_locker": (ParcelEventKind.PLACED,),
    "picked_up": (ParcelEventKind.PICKED_UP,),
    "storage_expired": (ParcelEventKind.EXPIRED,),
    "returned": (ParcelEventKind.RETURNED,),
}
# Hours after registration each step happened (before placement) ...
STEP_HOURS = {"pickup_requested": 1, "at_sorting_center": 20, "with_courier": 26,
              "in_locker": 30}
PLACED = {"in_locker", "picked_up", "storage_expired", "returned"}
KEEP_FREE = 5  # free cells left at the walk-through's locker (PM-001)


def _path(status: str, drop_mode: DropMode) -> list[str]:
    """The states a parcel went through to ``status``, in order."""
    if status in PARCEL_PATH:
        path = list(PARCEL_PATH[:PARCEL_PATH.index(status) + 1])
    else:
        path = [*PARCEL_PATH, "storage_expired"] if status == "returned" else [*PARCEL_PATH]
        path.append(status)
    if drop_mode is DropMode.SELF_DROP:
        path = [state for state in path if state != "pickup_requested"]
    return path


def _placed_at(demo: Demo, status: str) -> datetime:
    """When a placed parcel went into its cell: an ``in_locker`` one keeps its deadline ahead
    (some within the last day, for the reminder), an expired or returned one is past it."""
    hours = {"in_locker": (2, 66), "storage_expired": (76, 110), "returned": (120, 400),
             "picked_up": (10, 500)}[status]
    return demo.now - timedelta(hours=demo.rng.randint(*hours))


def _parcels(demo: Demo, stores: dict[str, Store], orders: list[Order], lockers: list[Locker],
             zones: dict[int, Zone]) -> None:
    """Parcels of the Belarusian store's locker orders, plus parcels both Russian-speaking
    stores registered themselves, plus the walk-through at the first locker: each with the
    cell its status holds (reserved or occupied; none before registration or after it left),
    its deadlines, its courier, its status history and events, a pickup code (its hash, and
    the buyer's SMS with the code in the outbox) while it waits in a cell, and for a paid one
    its payment at the locker; the money follows the events (``_charge_events``)."""
    rng, session = demo.rng, demo.session
    free = {id(locker): [c for c in locker.cells if c.state is CellState.FREE]
            for locker in lockers}
    for cells in free.values():
        rng.shuffle(cells)
    # The walk-through first: its cells are taken before the others fill the first locker.
    plans: list[tuple[Store, Order | None, Locker, str, datetime]] = [
        (stores["by"], None, lockers[0], status, demo.now - timedelta(hours=rng.randint(4, 30)))
        for status in WALKTHROUGH]
    walkthrough = len(plans)
    for order in orders:
        if order.locker is not None and order.status in PARCEL_STATUS and not order.deleted_at:
            plans.append((stores["by"], order, order.locker,
                          rng.choice(PARCEL_STATUS[order.status]), order.ordered_at))
    # The lockers' tariffs are in BYN: a store paying in another currency cannot register
    # parcels under them (services.locker_charges refuses), so the parcels are the BYN store's.
    for key, count in (("by", 35),):
        for _ in range(count):
            plans.append((stores[key], None, rng.choice(lockers), rng.choice(STANDALONE_PARCELS),
                          demo.now - timedelta(days=rng.randint(0, 30), hours=rng.randint(0, 23))))
    session.flush()  # the ledger posts by merchant id
    _top_ups(demo, stores)
    demo_courier = stores["by"].couriers[0]  # the "courier" user's, badge DEMO_BADGE
    journeys: list[Journey] = []
    for n, (store, order, locker, status, at) in enumerate(plans, start=1):
        cell = None
        if status in NEEDS_CELL:
            # The walk-through's locker keeps a few free cells for registering parcels.
            spare = 0 if n <= walkthrough or locker is not lockers[0] else KEEP_FREE
            if len(free[id(locker)]) > spare:
                cell = free[id(locker)].pop()
                cell.state = NEEDS_CELL[status]
            else:
                status = "created"
        spec = store.spec
        drop_mode = DropMode.SELF_DROP if rng.random() < 0.3 else DropMode.COURIER_PICKUP
        if status == "pickup_requested":
            drop_mode = DropMode.COURIER_PICKUP
        # The walk-through has money to collect at the terminal, and a paid parcel whose
        # change went to the buyer's phone.
        cod = rng.random() < 0.3 or (n <= walkthrough and (
            status == "picked_up" or (status == "in_locker" and n % 2 == 0)))
        path = _path(status, drop_mode)
        placed = _placed_at(demo, status) if status in PLACED else None
        start = min(at, placed - timedelta(hours=STEP_HOURS["in_locker"])) if placed else at
        times = {state: min(start + timedelta(hours=STEP_HOURS.get(state, 0)), demo.now)
                 for state in path}
        stored_until = None
        if placed is not None:
            times["in_locker"] = placed
            stored_until = placed + timedelta(days=3)
            if "storage_expired" in times:
                times["storage_expired"] = stored_until
            if status == "returned":
                times["returned"] = stored_until + timedelta(hours=rng.randint(2, 20))
            if status == "picked_up":
                times["picked_up"] = min(placed + timedelta(hours=rng.randint(1, 60)),
                                         demo.now)
        courier = None
        if n <= walkthrough or status in PLACED:
            courier = demo_courier if n <= walkthrough else rng.choice(stores["by"].couriers)
        elif status in ("pickup_requested", "with_courier"):
            courier = rng.choice(stores["by"].couriers)
        parcel = Parcel(
            merchant=store.merchant, order=order, locker=locker, cell=cell,
            barcode=f"PD{spec.key.upper()}{n:08d}", status=status,
            size=cell.size if cell else rng.choice(CELL_SIZES),
            # Nothing to collect on an order already paid in full (no declared amount of 0).
            declared_price=(order.balance_due if order else demo.price(10, 200, spec)) or None
            if cod else None,
            paid=not cod or status == "picked_up", currency=spec.currency,
            recipient_name=order.recipient_name if order else store.fake.name(),
            recipient_phone=order.recipient_phone if order else demo.phone(spec.phone_format),
            recipient_language=rng.choice(("ru", "ru", "ru", "en", "fa")),
            drop_mode=drop_mode, drop_date=(at + timedelta(days=1)).date(),
            reserved_until=demo.now + timedelta(hours=rng.randint(12, 72))
            if cell is not None and cell.state is CellState.RESERVED else None,
            placed_at=placed, stored_until=stored_until,
            picked_up_at=times.get("picked_up"),
            courier=courier,
            weight_g=order.total_weight_g if order else rng.randint(100, 8000),
            created_at=times["created"], updated_at=times[status],
        )
        session.add(parcel)
        journeys.append((parcel, path, times, f"{locker.code} {cell.code}" if cell else None,
                         n <= walkthrough))
    session.flush()  # parcel ids for their history, events and messages
    _parcel_journeys(demo, journeys)
    _payouts(demo)


def _payouts(demo: Demo) -> None:
    """The weekly payouts the worker's job would have drafted for the weeks already over
    (``services.payouts``), the older ones approved and paid as the accountant does, so the
    payout list, its statement and the bank-transfer file have something to show."""
    from services.payouts import approve, compute_payout, mark_paid

    session = demo.session
    accountant = Actor(user_id=None, username="accountant", role=RoleCode.ACCOUNTANT.value)
    today = demo.now.date()
    first = dict(session.execute(select(LedgerEntry.merchant_id, func.min(LedgerEntry.at))
                                 .group_by(LedgerEntry.merchant_id)).all())
    for merchant in session.scalars(select(Merchant).order_by(Merchant.id)):
        if merchant.id not in first:
            continue
        start = first[merchant.id].date()
        while True:
            # A week ends the day before the merchant's payout weekday.
            end = start + timedelta(days=(merchant.payout_weekday - 2 - start.weekday()) % 7)
            if end >= today:
                break
            payout = compute_payout(session, merchant.id, start, end, today)
            session.flush()
            if end < today - timedelta(days=7):
                approve(session, accountant, payout.id)  # a zero payout is settled by it
                if payout.amount > 0:
                    mark_paid(session, accountant, payout.id, f"DEMO-PAYOUT-{payout.id:05d}")
            start = end + timedelta(days=1)


Journey = tuple[Parcel, list[str], dict[str, datetime], str | None, bool]


def _parcel_journeys(demo: Demo, journeys: list[Journey]) -> None:
    """Each demo parcel's status history, events, payment, and pickup code with its SMS."""
    from services.shop_settings import shop_zone
    from services.terminal import hash_pickup_code, hash_token, placement_sms

    session, rng = demo.session, demo.rng
    workflow_id = session.scalar(select(Workflow.id).where(Workflow.code == "parcel"))
    codes: dict[int, set[str]] = {}
    rows: list[Any] = []
    for parcel, path, times, place, walk in journeys:
        for before, after in pairwise(path):
            rows.append(StatusChange(
                workflow_id=workflow_id, table_name="parcels", record_id=parcel.id,
                from_state=before, to_state=after, at=times[after],
                comment=f"Collected from locker {place}" if after == "returned" else None))
            for kind in STEP_EVENTS.get(after, ()):
                rows.append(ParcelEvent(
                    parcel_id=parcel.id, merchant_id=parcel.merchant_id, kind=kind,
                    locker_id=parcel.locker_id, cell_size=parcel.size, at=times[after]))
        if parcel.status == "picked_up" and parcel.declared_price:
            rows.extend(_locker_payment(demo, parcel, times["picked_up"], with_change=walk))
        if parcel.status in ("in_locker", "storage_expired"):
            taken = codes.setdefault(parcel.locker_id, set())
            code = f"{rng.randrange(10 ** 6):06d}"
            while code in taken:
                code = f"{rng.randrange(10 ** 6):06d}"
            taken.add(code)
            parcel.pickup_code_hash = hash_pickup_code(code)
            # The SMS the terminal sent at placement: the only place the code is written.
            rows.append(OutboxMessage(
                channel=OutboxChannel.SMS, recipient=parcel.recipient_phone,
                body=placement_sms(parcel, parcel.locker, code, shop_zone(demo.session)),
                status=OutboxStatus.SENT,
                attempts=1, next_attempt_at=parcel.placed_at, sent_at=parcel.placed_at,
                related_table="parcels", related_id=parcel.id, created_at=parcel.placed_at))
    # The demo courier's last shift at the walk-through's locker: its (ended) terminal session
    # and the placement the terminal reported, as the terminal API keeps them.
    placed = next(p for p, _, _, _, walk in journeys if walk and p.status == "in_locker")
    assert placed.courier_id is not None and placed.placed_at is not None
    rows.append(TerminalSession(
        locker_id=placed.locker_id, courier_id=placed.courier_id,
        token_hash=hash_token(f"demo-{placed.barcode}-{rng.random()}"),
        started_at=placed.placed_at - timedelta(minutes=20),
        expires_at=placed.placed_at - timedelta(minutes=20) + timedelta(hours=12)))
    rows.append(TerminalRequest(
        locker_id=placed.locker_id, key=f"demo-{placed.barcode}-cell-closed",
        operation="cell_closed", status_code=200, at=placed.placed_at,
        response=json.dumps({"barcode": placed.barcode, "status": "in_locker"})))
    session.add_all(rows)
    session.flush()  # the events' ids, which their ledger entries name
    _charge_events(session, [row for row in rows if isinstance(row, ParcelEvent)])


def _top_ups(demo: Demo, stores: dict[str, Store]) -> None:
    """Each paying store's bank transfers, recorded as the accountant records them
    (``services.topups``): the opening prepayment, then a monthly top-up of half of it."""
    accountant = Actor(user_id=None, username="accountant", role=RoleCode.ACCOUNTANT.value)
    for store in stores.values():
        spec = store.spec
        if not spec.deposit:
            continue
        days_ago = [DAYS, *range(DAYS - 30, 0, -30)]
        for n, ago in enumerate(days_ago, start=1):
            amount = spec.deposit if n == 1 else spec.deposit / 2
            record_top_up(demo.session, accountant, store.merchant.id, amount,
                          (demo.now - timedelta(days=ago)).date(),
                          f"DEMO-{spec.key.upper()}-{n:04d}")


def _charge_events(session: Session, events: list[ParcelEvent]) -> None:
    """What each demo event costs or brings its merchant, posted as the journey's services
    post it (``services.locker_charges.charge_event`` through ``services.ledger.post``), in the
    order the events happened: registrations charged (within the balance and the credit
    limit), payments at the locker credited with their fee, late pickups and returns charged
    their extra days. The balance is then the ledger's sum, event by event."""
    for event in sorted(events, key=lambda e: (e.at, e.id)):
        charge_event(session, event)


def _maintenance_log(demo: Demo, lockers: list[Locker], technician: User) -> None:
    """What the technician wrote when putting the demo's broken cells out of order, and a
    note at the first locker."""
    at = demo.now - timedelta(days=2)
    entries = [LockerMaintenance(locker_id=cell.locker_id, cell_id=cell.id, user=technician,
                                 action=MaintenanceAction.OUT_OF_ORDER,
                                 reason="Door does not lock", at=at)
               for locker in lockers for cell in locker.cells
               if cell.state is CellState.OUT_OF_ORDER]
    entries.append(LockerMaintenance(locker_id=lockers[0].id, user=technician,
                                     action=MaintenanceAction.NOTE,
                                     reason="Screen cleaned, printer paper replaced",
                                     at=at + timedelta(hours=1)))
    demo.session.add_all(entries)


def _locker_payment(demo: Demo, parcel: Parcel, at: datetime,
                    with_change: bool = False) -> list[Any]:
    """A cash-on-delivery parcel's payment at the locker; cash paid over (in notes of 5) is
    credited to the buyer's phone. ``with_change``: paid in cash with change, always."""
    amount = Decimal(parcel.declared_price or 0)
    cash = with_change or demo.rng.random() < 0.6
    tendered = (amount / 5).to_integral_value(rounding=ROUND_CEILING) * 5 if cash else amount
    if with_change and tendered == amount:
        tendered += 5
    payment = ParcelPayment(
        parcel_id=parcel.id, merchant_id=parcel.merchant_id, locker_id=parcel.locker_id,
        method=PaymentMethodAtLocker.CASH if cash else PaymentMethodAtLocker.CARD,
        amount=amount, tendered=tendered, change=tendered - amount, currency=parcel.currency,
        at=at)
    rows: list[Any] = [payment, ParcelEvent(
        parcel_id=parcel.id, merchant_id=parcel.merchant_id, kind=ParcelEventKind.PAID,
        locker_id=parcel.locker_id, cell_size=parcel.size, amount=amount,
        currency=parcel.currency, at=at)]
    if tendered > amount and parcel.recipient_phone:
        demo.session.add(payment)
        demo.session.flush()
        rows.append(PhoneCredit(phone=parcel.recipient_phone, amount=tendered - amount,
                                currency=parcel.currency, payment_id=payment.id, at=at))
    return rows
